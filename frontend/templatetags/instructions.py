from django import template
from django.utils.safestring import mark_safe

from annotate.markdown import markdown_to_html

register = template.Library()


@register.filter
def markdown(text):
    """A project's instructions as HTML: ``markdown_to_html`` escapes all of the author's own markup first."""
    return mark_safe(markdown_to_html(text))
