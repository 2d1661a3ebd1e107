// The card payment page: mounts Stripe's Payment Element and confirms the PaymentIntent.
// The balance is credited by the verified webhook on the server, never by this script.
(function () {
  "use strict";
  const form = document.getElementById("payment-form");
  if (!form || typeof window.Stripe !== "function") return;
  const stripe = window.Stripe(form.dataset.publishableKey);
  const elements = stripe.elements({ clientSecret: form.dataset.clientSecret });
  const paymentElement = elements.create("payment");
  const container = document.getElementById("payment-element");
  container.textContent = "";
  paymentElement.mount(container);
  const errorBox = document.getElementById("payment-error");
  const button = document.getElementById("pay-button");

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    errorBox.hidden = true;
    const { error } = await stripe.confirmPayment({
      elements,
      confirmParams: { return_url: form.dataset.returnUrl },
    });
    // Only reached on an immediate error; success redirects to return_url.
    if (error) {
      errorBox.textContent = error.message || "The payment could not be completed.";
      errorBox.hidden = false;
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  });
})();
