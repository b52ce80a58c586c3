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
from typing import Any, List, Optional

import yaml

from hydraflow_core.errors import JobFileError

#: Deepest nesting of mappings and lists; a job file needs six levels.
MAX_DEPTH = 64
#: Largest job file read (4 MiB, about 40,000 jobs, read in about two seconds); a real one is a few kilobytes.
MAX_FILE_BYTES = 4 * 1024 * 1024
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# A broken file up to this size is read again by PyYAML's Python loader for its message.
_REREAD_BYTES = 1024 * 1024
# Characters YAML 1.1 does not allow in a stream (its "printable" set, inverted).
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def compose(text: str, name: str, only: Optional[str] = None) -> Optional[yaml.Node]:
    """The document's root node (None for an empty file); bad YAML is a :class:`JobFileError`.

    With ``only``, the value of every other entry under the top-level ``jobs``
    is read past (checked as YAML, not built) and left as an empty scalar.
    """
    bad = _NOT_PRINTABLE.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        raise JobFileError([f"{name}:{line}:{column}: invalid YAML: control character "
                            f"{bad.group()!r} is not allowed; a job file holds plain text"])
    try:
        try:
            return _compose_with(_LOADER, text, name, only)
        except _SkippedAnchor:  # an alias to a part read past: build everything
            return _compose_with(_LOADER, text, name, None)
    except yaml.YAMLError:
        if _LOADER is not yaml.SafeLoader and len(text) <= _REREAD_BYTES:
            # PyYAML's own words are clearer than libyaml's ("expected the node
            # content, but found '<stream end>'"); they are the same with or without libyaml.
            try:
                _compose_with(yaml.SafeLoader, text, name, None)
            except yaml.YAMLError as python_error:
                error = python_error
        raise JobFileError([_yaml_message(error, name, text)]) from None


class _SkippedAnchor(Exception):
    """An alias refers to an anchor inside a job that was read past."""


def _compose_with(loader_class, text: str, name: str, only: Optional[str]) -> Optional[yaml.Node]:
    loader = loader_class(text)
    try:
        return _compose_document(loader, name, only)
    finally:
        loader.dispose()


def _compose_document(loader, name: str, only: Optional[str]) -> Optional[yaml.Node]:
    loader.get_event()  # StreamStartEvent
    if loader.check_event(yaml.StreamEndEvent):
        return None
    loader.get_event()  # DocumentStartEvent
    root = _compose_node(loader, name, only)
    loader.get_event()  # DocumentEndEvent
    if not loader.check_event(yaml.StreamEndEvent):
        line = loader.peek_event().start_mark.line + 1
        raise JobFileError([f"{name}:{line}: a second YAML document ('---'); a job file holds one"])
    return root


def _too_deep(name: str, event) -> JobFileError:
    return JobFileError([f"{name}:{event.start_mark.line + 1}: nested more than {MAX_DEPTH} "
                         "levels deep; a job file needs at most six (jobs, job, steps, step, list)"])


def _compose_node(loader, name: str, only: Optional[str]) -> yaml.Node:
    """One node and everything under it, built from events with a stack (no recursion)."""
    anchors = {}
    skipped = False
    stack: List[list] = []  # [collection node, pending mapping key or None]
    get_event, resolve = loader.get_event, loader.resolve
    Scalar, Mapping, Sequence = yaml.ScalarNode, yaml.MappingNode, yaml.SequenceNode
    while True:
        event = get_event()
        kind = type(event)
        if kind is yaml.ScalarEvent:
            tag = event.tag
            explicit = tag is not None and tag != "!"
            if not explicit:
                tag = resolve(Scalar, event.value, event.implicit)
            node = Scalar(tag, event.value, event.start_mark, event.end_mark, style=event.style)
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            if len(stack) >= MAX_DEPTH:
                raise _too_deep(name, event)
            if (only is not None and len(stack) == 2 and stack[1][1] is not None
                    and stack[0][1] is not None and stack[0][1].value == "jobs"
                    and stack[1][1].value != only):
                _read_past(loader, name, len(stack))  # another job: its line is all we need
                skipped = True
                node = Scalar("tag:yaml.org,2002:null", "", event.start_mark, event.end_mark)
                explicit = False
            else:
                node_class = Mapping if kind is yaml.MappingStartEvent else Sequence
                tag = event.tag
                explicit = tag is not None and tag != "!"
                if not explicit:
                    tag = resolve(node_class, None, event.implicit)
                node = node_class(tag, [], event.start_mark, event.end_mark, flow_style=event.flow_style)
                if explicit:
                    node.explicit_tag = tag
                if event.anchor is not None:
                    anchors[event.anchor] = node
                stack.append([node, None])
                continue
        elif kind is yaml.AliasEvent:
            if event.anchor not in anchors:
                if skipped:
                    raise _SkippedAnchor()
                raise JobFileError([f"{name}:{event.start_mark.line + 1}: invalid YAML: "
                                    f"unknown alias '*{event.anchor}'"])
            node = anchors[event.anchor]
            explicit = False
        else:  # MappingEndEvent or SequenceEndEvent
            node = stack.pop()[0]
            node.end_mark = event.end_mark
            explicit = None  # set when it started
        if explicit:
            node.explicit_tag = tag
        if kind is yaml.ScalarEvent and event.anchor is not None:
            anchors[event.anchor] = node
        if not stack:
            return node
        parent = stack[-1]
        if parent[0].__class__ is Sequence:
            parent[0].value.append(node)
        elif parent[1] is None:
            parent[1] = node
        else:
            parent[0].value.append((parent[1], node))
            parent[1] = None


def _read_past(loader, name: str, depth: int) -> None:
    """Consume the events of one collection whose start event was just read."""
    level = 1
    get_event = loader.get_event
    while level:
        event = get_event()
        kind = type(event)
        if kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            level += 1
            if depth + level > MAX_DEPTH:
                raise _too_deep(name, event)
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            level -= 1


def _yaml_message(error: yaml.YAMLError, name: str, text: str) -> str:
    """``FILE:LINE:COLUMN: invalid YAML: problem``, with a hint for a tab."""
    mark = getattr(error, "problem_mark", None)
    where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
    problem = getattr(error, "problem", None) or str(error)
    tab = "\\t" in problem or "tab" in problem or (mark is not None and text[mark.index:mark.index + 1] == "\t")
    return f"{where}: invalid YAML: {problem}" + ("; indent with spaces, not tabs" if tab else "")


STR_TAG = "tag:yaml.org,2002:str"
NULL_TAG = "tag:yaml.org,2002:null"


def plain_value(node: yaml.Node) -> Any:
    """A Slurm setting as YAML reads it (numbers, true/false, lists, mappings), from our own nodes."""
    if isinstance(node, yaml.SequenceNode):
        return [plain_value(item) for item in node.value]
    if isinstance(node, yaml.MappingNode):
        return {k.value: plain_value(v) for k, v in node.value}
    text = node.value
    if node.style:  # quoted: text
        return text
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    if re.fullmatch(r"-?[0-9]*\.[0-9]+", text):
        return float(text)
    if text in ("true", "True", "false", "False"):
        return text in ("true", "True")
    if text in ("null", "~", ""):
        return None
    return text


def describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == NULL_TAG:
        return "nothing"
    return f"'{node.value}'" if node.tag == STR_TAG else f"{node.value}"
