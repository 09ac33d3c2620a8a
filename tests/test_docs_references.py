"""docs/proposal.md cites tests and files as evidence; a rename or removal must not leave a claim
pointing at nothing.  Every relative link must resolve, every `test_*` name inside a link to a
test file must be a test function defined in that file, and every #anchor must name a heading."""
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["docs/proposal.md"]

# Citations of tests that are not in this tree yet (none today).  A listed file or test that
# exists is checked like any other citation; remove an entry once it exists.
PENDING_FILES = set()
PENDING_TESTS = set()

LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")
TEST_NAME = re.compile(r"`(test_[A-Za-z0-9_]+)`")


def _rel(path):
    return os.path.relpath(path, ROOT).replace(os.sep, "/")


def _read(doc):
    with open(os.path.join(ROOT, doc), encoding="utf-8") as f:
        return f.read()


def _links(doc):
    text = _read(doc)
    base = os.path.dirname(os.path.join(ROOT, doc))
    for label, target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = os.path.normpath(os.path.join(base, target.split("#")[0]))
        yield label, target, path


def _defined_tests(path):
    with open(path, encoding="utf-8") as f:
        return set(re.findall(r"^(?:async )?def (test_[A-Za-z0-9_]+)\(", f.read(), re.M))


@pytest.mark.parametrize("doc", DOCS)
def test_relative_links_resolve(doc):
    missing = [target for _, target, path in _links(doc)
               if not os.path.exists(path) and _rel(path) not in PENDING_FILES]
    assert missing == []


@pytest.mark.parametrize("doc", DOCS)
def test_cited_tests_exist(doc):
    missing = []
    for label, target, path in _links(doc):
        names = TEST_NAME.findall(label)
        if not names or not path.endswith(".py") or not os.path.exists(path):
            continue
        defined = _defined_tests(path)
        missing += [f"{target}: {n}" for n in names
                    if n not in defined and (_rel(path), n) not in PENDING_TESTS]
    assert missing == []


def _slug(heading):
    """The anchor a Markdown renderer (GitHub's rules) gives a heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@pytest.mark.parametrize("doc", DOCS)
def test_anchors_name_headings(doc):
    text = _read(doc)
    slugs = {_slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}
    anchors = set(re.findall(r"\]\(#([^)\s]+)\)", text))
    assert sorted(anchors - slugs) == []
