"""Read a job file's YAML into PyYAML nodes: fast, bounded, and without tags.

PyYAML's own composer is recursive (a file nested 3,000 deep raises
``RecursionError``) and, in pure Python, takes seconds per megabyte. This one
reads libyaml's events when PyYAML has them (ten times faster), builds the
nodes with an explicit stack (any depth up to :data:`MAX_DEPTH` costs no
recursion), and keeps the tag a file gives explicitly (``!!binary``, ``!foo``)
on the node as ``explicit_tag``, so the loader can reject it: a job file is
plain text, and YAML's reading of a tag would silently change a value.
"""

from __future__ import annotations

import re
from typing import List, Optional

import yaml

from .errors import JobFileError

#: Deepest nesting of mappings and lists; a job file needs six levels.
MAX_DEPTH = 64
#: Largest job file read (10 MiB); a real one is a few kilobytes.
MAX_FILE_BYTES = 10 * 1024 * 1024
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# A broken file up to this size is read again by PyYAML's Python loader for its message.
_REREAD_BYTES = 1024 * 1024
# Characters YAML 1.1 does not allow in a stream (its "printable" set, inverted).
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def compose(text: str, name: str) -> Optional[yaml.Node]:
    """The document's root node (None for an empty file); bad YAML is a :class:`JobFileError`."""
    bad = _NOT_PRINTABLE.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        raise JobFileError([f"{name}:{line}:{column}: invalid YAML: control character "
                            f"{bad.group()!r} is not allowed; a job file holds plain text"])
    try:
        return _compose_with(_LOADER, text, name)
    except yaml.YAMLError as error:
        if _LOADER is not yaml.SafeLoader and len(text) <= _REREAD_BYTES:
            # PyYAML's own words are clearer than libyaml's ("expected the node
            # content, but found '<stream end>'"); they are the same with or without libyaml.
            try:
                _compose_with(yaml.SafeLoader, text, name)
            except yaml.YAMLError as python_error:
                error = python_error
        raise JobFileError([_yaml_message(error, name, text)]) from None


def _compose_with(loader_class, text: str, name: str) -> Optional[yaml.Node]:
    loader = loader_class(text)
    try:
        return _compose_document(loader, name)
    finally:
        loader.dispose()


def _compose_document(loader, name: str) -> Optional[yaml.Node]:
    loader.get_event()  # StreamStartEvent
    if loader.check_event(yaml.StreamEndEvent):
        return None
    loader.get_event()  # DocumentStartEvent
    root = _compose_node(loader, name)
    loader.get_event()  # DocumentEndEvent
    if not loader.check_event(yaml.StreamEndEvent):
        line = loader.peek_event().start_mark.line + 1
        raise JobFileError([f"{name}:{line}: a second YAML document ('---'); a job file holds one"])
    return root


def _compose_node(loader, name: str) -> yaml.Node:
    """One node and everything under it, built from events with a stack (no recursion)."""
    anchors = {}
    stack: List[list] = []  # [collection node, pending mapping key or None]
    while True:
        event = loader.get_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:
                raise JobFileError([f"{name}:{event.start_mark.line + 1}: invalid YAML: "
                                    f"unknown alias '*{event.anchor}'"])
            node = anchors[event.anchor]
        elif isinstance(event, yaml.ScalarEvent):
            tag = event.tag if _explicit(event.tag) else loader.resolve(
                yaml.ScalarNode, event.value, event.implicit)
            node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
            _remember(node, event, anchors)
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if len(stack) >= MAX_DEPTH:
                raise JobFileError([f"{name}:{event.start_mark.line + 1}: nested more than {MAX_DEPTH} "
                                    "levels deep; a job file needs at most six (jobs, job, steps, step, list)"])
            kind = yaml.MappingNode if isinstance(event, yaml.MappingStartEvent) else yaml.SequenceNode
            tag = event.tag if _explicit(event.tag) else loader.resolve(kind, None, event.implicit)
            node = kind(tag, [], event.start_mark, event.end_mark, flow_style=event.flow_style)
            _remember(node, event, anchors)
            stack.append([node, None])
            continue
        else:  # MappingEndEvent or SequenceEndEvent
            node = stack.pop()[0]
            node.end_mark = event.end_mark
        if not stack:
            return node
        parent = stack[-1]
        if isinstance(parent[0], yaml.SequenceNode):
            parent[0].value.append(node)
        elif parent[1] is None:
            parent[1] = node
        else:
            parent[0].value.append((parent[1], node))
            parent[1] = None


def _explicit(tag: Optional[str]) -> bool:
    return tag not in (None, "!")


def _remember(node: yaml.Node, event, anchors: dict) -> None:
    node.explicit_tag = event.tag if _explicit(event.tag) else None
    if event.anchor is not None:
        anchors[event.anchor] = node


def _yaml_message(error: yaml.YAMLError, name: str, text: str) -> str:
    """``FILE:LINE:COLUMN: invalid YAML: problem``, with a hint for a tab."""
    mark = getattr(error, "problem_mark", None)
    where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
    problem = getattr(error, "problem", None) or str(error)
    tab = "\\t" in problem or "tab" in problem or (mark is not None and text[mark.index:mark.index + 1] == "\t")
    return f"{where}: invalid YAML: {problem}" + ("; indent with spaces, not tabs" if tab else "")
