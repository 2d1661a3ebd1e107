// The card payment page: mounts Stripe's Payment Element and confirms the PaymentIntent.
// The balance is credited by the verified webhook on the server, never by this script.
(function () {
  "use strict";
  const form = document.getElementById("payment-form");
  if (!form) return;
  const container = document.getElementById("payment-element");
  const errorBox = document.getElementById("payment-error");
  const button = document.getElementById("pay-button");

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  if (typeof window.Stripe !== "function") {
    // Stripe.js (https://js.stripe.com/v3/) did not load: offline, blocked by an extension or
    // a firewall. Say so instead of leaving "Loading…" forever, and offer nothing to click.
    container.textContent = "";
    button.disabled = true;
    form.setAttribute("data-stripe-state", "unavailable");
    showError(
      "The secure card form could not be loaded from Stripe. Check your connection (or an " +
        "ad blocker) and reload this page. Nothing has been charged."
    );
    return;
  }

  const stripe = window.Stripe(form.dataset.publishableKey);
  const elements = stripe.elements({ clientSecret: form.dataset.clientSecret });
  const paymentElement = elements.create("payment");
  container.textContent = "";
  paymentElement.mount(container);
  form.setAttribute("data-stripe-state", "ready");

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    errorBox.hidden = true;
    let error;
    try {
      ({ error } = await stripe.confirmPayment({
        elements,
        confirmParams: { return_url: form.dataset.returnUrl },
      }));
    } catch (thrown) {
      error = { message: "Stripe could not be reached. Nothing has been charged; try again." };
    }
    // Only reached on an immediate error; success redirects to return_url.
    if (error) {
      showError(error.message || "The payment could not be completed.");
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  });
})();
