"""Answers built by one output serializer instance per class, shared by every request.

``Serializer(instance).data`` deep-copies the class's declared fields and binds them anew on every call, about
as much Python time as the rest of an annotation write; ``to_representation`` itself keeps no state between
calls, so one bound instance per class serves every request (and thread) with the same JSON.
"""
import functools


@functools.cache
def _shared(serializer_class):
    serializer = serializer_class()
    serializer.fields  # noqa: B018 bound here, once
    return serializer


def serialized(serializer_class, instance) -> dict:
    """``serializer_class(instance).data``, without building the serializer's fields again."""
    return _shared(serializer_class).to_representation(instance)
