"""The form side of marketplace.textnorm: every text field of every form is a TextField, so a
browser's text is NFC with LF line ends before any other check, and a control character, NUL
or lone surrogate is a form error on that field. Line breaks and tabs are allowed where the
widget is a textarea (descriptions, reasons, bodies) and refused elsewhere (names, titles, keys).
Passwords stay plain CharFields: normalising one would change what a hash was made from."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from marketplace.textnorm import TextRefused, text_clean


class TextField(forms.CharField):
    def __init__(self, *, multiline: bool | None = None, **kwargs):
        super().__init__(**kwargs)
        if multiline is None:
            multiline = isinstance(self.widget, forms.Textarea)
        self.multiline = multiline

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return value
        try:
            return text_clean(value, multiline=self.multiline)
        except TextRefused as exc:
            raise ValidationError(f"This text {exc.message}", code="text_refused") from exc
