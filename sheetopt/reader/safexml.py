"""Parsing a workbook's XML safely with expat, the C parser of the standard library.

Each parser refuses what could attack the reader, as defusedxml does by default: an entity
declaration (an XML bomb's billion laughs, or an external file read through an entity) and
any external entity reference; a DOCTYPE without them is allowed, and nothing is ever fetched.
An entity used but never declared is an error, worded as ElementTree words it. The handlers
that collect what a reader needs are set by the caller; ``TreeHandlers`` builds Elements
(``parse_tree``) for the small parts, and ``parse_chunks`` feeds a part from its zip stream a
chunk at a time, so that a big sheet is never held whole.

    >>> parse_tree(b'<a x="1"><b>text</b></a>').find("b").text
    'text'
"""
from __future__ import annotations

from typing import Callable, Iterator
from xml.etree.ElementTree import Element, TreeBuilder
from xml.parsers import expat
from xml.parsers.expat import ExpatError

CHUNK = 16 * 1024  # bytes fed to the parser at a time


class XmlRefused(ValueError):
    """XML that could attack the reader; the message says what it declared or referenced
    (``guarded_parser`` shows one)."""


ENTITIES_REFUSED = "the XML declares entities (possible XML bomb)"
EXTERNAL_REFUSED = "XML constructs that could attack the reader (ExternalReferenceForbidden)"


def guarded_parser(names: tuple[str, ...] = ()) -> expat.XMLParserType:
    """A namespace-aware expat parser (names read ``uri}local``) that refuses entity
    declarations and external references. The tag names its handlers compare with (``names``)
    are the very strings it reports, which makes the comparisons quick.

    >>> guarded_parser().Parse(b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>', True)
    Traceback (most recent call last):
    ...
    sheetopt.reader.safexml.XmlRefused: the XML declares entities (possible XML bomb)
    """
    parser = expat.ParserCreate(None, "}", {name: name for name in names})
    parser.buffer_text = True
    parser.EntityDeclHandler = _refuse_entities
    parser.UnparsedEntityDeclHandler = _refuse_entities
    parser.ExternalEntityRefHandler = _refuse_external

    def undefined(name: str, is_parameter_entity: bool) -> None:
        if not is_parameter_entity:  # reached where a DTD could have declared it: not expat's
            error = ExpatError(f"undefined entity &{name};: line {parser.ErrorLineNumber}, "
                               f"column {parser.ErrorColumnNumber}")
            error.code = 11  # XML_ERROR_UNDEFINED_ENTITY
            error.lineno, error.offset = parser.ErrorLineNumber, parser.ErrorColumnNumber
            raise error

    parser.SkippedEntityHandler = undefined
    return parser


def _refuse_entities(*_) -> None:
    raise XmlRefused(ENTITIES_REFUSED)


def _refuse_external(*_) -> None:
    raise XmlRefused(EXTERNAL_REFUSED)


def element_name(name: str) -> str:
    """ElementTree's spelling of expat's ``uri}local``: ``{uri}local``.

    >>> element_name("urn:x}row"), element_name("row")
    ('{urn:x}row', 'row')
    """
    return "{" + name if "}" in name else name


def start_element(builder: TreeBuilder, name: str, attrs: dict[str, str]) -> Element:
    """Begins an Element on ``builder`` from expat's start of an element, its names spelled
    as ElementTree spells them.

    >>> builder = TreeBuilder()
    >>> start_element(builder, "urn:x}a", {"urn:x}k": "1"}).attrib
    {'{urn:x}k': '1'}
    """
    return builder.start(element_name(name), {element_name(k): v for k, v in attrs.items()})


class TreeHandlers:
    """Handlers that build Elements with ``builder`` (ElementTree's C TreeBuilder), calling
    ``on_end(element)`` as each element ends.

    >>> parser = guarded_parser()
    >>> ended = []
    >>> _ = TreeHandlers(parser, on_end=lambda e: ended.append(e.tag))
    >>> parser.Parse(b"<a><b/></a>", True)
    1
    >>> ended
    ['b', 'a']
    """

    def __init__(self, parser: expat.XMLParserType,
                 on_end: Callable[[Element], None] | None = None):
        self.builder = TreeBuilder()
        self._on_end = on_end
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.builder.data

    def start(self, name: str, attrs: dict[str, str]) -> Element:
        return start_element(self.builder, name, attrs)

    def end(self, name: str) -> Element:
        element = self.builder.end(element_name(name))
        if self._on_end is not None:
            self._on_end(element)
        return element


def parse_tree(data: bytes) -> Element:
    """The root Element of a whole (small) XML document; ExpatError where it is damaged,
    XmlRefused where it declares entities.

    >>> parse_tree(b"<a/>").tag
    'a'
    """
    parser = guarded_parser()
    handlers = TreeHandlers(parser)
    parser.Parse(data, False)
    parser.Parse(b"", True)
    return handlers.builder.close()


def parse_chunks(parser: expat.XMLParserType, stream) -> Iterator[None]:
    """Feeds ``stream`` to ``parser`` a chunk at a time, yielding after each: what the handlers
    collected so far is ready to read. A damage to the XML raises its ExpatError after the
    yield for what came before it, as ElementTree's iterparse does; the end of the document
    (its last yield) comes only when it is whole.

    >>> import io
    >>> parser = guarded_parser()
    >>> sum(1 for _ in parse_chunks(parser, io.BytesIO(b"<a/>")))
    2
    """
    while True:
        data = stream.read(CHUNK)
        if not data:
            break
        try:
            parser.Parse(data, False)
        except ExpatError:
            yield
            raise
        yield
    parser.Parse(b"", True)
    yield
