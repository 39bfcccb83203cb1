"""Chinese person names: a surname from the list, cut by jieba, confirmed by context.

Chinese has no capitals and no spaces, and most surnames are also everyday characters
(高, 白, 夏, 石), so a surname alone proves nothing. A name is accepted when jieba tags the
word as a person name (``nr``) and it starts with a listed surname, or when a cue
precedes it ("患者：", "家属", "签名") or a title follows ("女士", "医生"). jieba decides
where the given name ends, which a fixed 1-2 character window cannot.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from functools import cache
from typing import Any

from dxkit.deid.resources import alternation, vocabulary
from dxkit.models.tokenize import _jieba, has_chinese

_HAN = "\u4e00-\u9fff"
SCORES = {"cue": 0.85, "title": 0.85, "tagged": 0.7}
PROPAGATED_SCORE = 0.75


@cache
def _posseg() -> Any:
    """jieba's part-of-speech tokenizer over the already initialised dictionary."""
    import jieba.posseg

    return jieba.posseg.POSTokenizer(_jieba().dt)


@cache
def _surname_pattern() -> re.Pattern[str]:
    return re.compile(alternation(vocabulary().zh_surnames))


@cache
def _cue_pattern() -> re.Pattern[str]:
    words = vocabulary()
    return re.compile(rf"{alternation(words.zh_name_cues)}[ \t]*[:：]?[ \t]*$")


@cache
def _title_pattern() -> re.Pattern[str]:
    return re.compile(rf"^\s*{alternation(vocabulary().zh_name_titles)}")


def _words(text: str) -> list[tuple[int, int, str]]:
    """(start, end, part-of-speech flag) of every jieba word in the text."""
    spans, position = [], 0
    for pair in _posseg().cut(text):
        word, flag = pair.word, pair.flag
        spans.append((position, position + len(word), flag))
        position += len(word)
    return spans


def _join_surname_and_given(
    text: str, words: list[tuple[int, int, str]]
) -> list[tuple[int, int, str]]:
    """Join a surname jieba tagged ``nr`` with a following ``nr`` word of 1-2 characters.

    jieba often cuts "陈安康" into "陈" + "安康"; judged apart, "安康" (well-being) would
    become the name and every later "安康" a false hit.
    """
    joined: list[tuple[int, int, str]] = []
    index = 0
    while index < len(words):
        start, end, flag = words[index]
        if index + 1 < len(words) and flag == "nr":
            next_start, next_end, next_flag = words[index + 1]
            is_surname = _surname_pattern().fullmatch(text[start:end]) is not None
            if is_surname and next_flag == "nr" and next_end - next_start <= 2:
                joined.append((start, next_end, "nr"))
                index += 2
                continue
        joined.append((start, end, flag))
        index += 1
    return joined


def _name_at(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The name in the word ``text[start:end]``: surname + up to two characters.

    A word that ends with a title (jieba sometimes keeps "王医生" whole) loses the
    title; a lone surname is a name only when a title follows ("王" in "王女士").
    """
    word = text[start:end]
    surname = _surname_pattern().match(word)
    if surname is None:
        return None
    title = re.search(rf"{alternation(vocabulary().zh_name_titles)}$", word)
    if title and title.start() >= surname.end():
        end = start + title.start()
    if end - start > len(surname.group(0)) + 2 or not re.fullmatch(f"[{_HAN}]+", text[start:end]):
        return None
    return start, end


# What follows a person who is the subject: a reporting verb or a title.
_REPORTS = re.compile(r"\s*(?:诉|称|述|自述|自诉|表示|说|主诉|先生|女士|同志|于|因|的)")


def _is_dictionary_word(word: str) -> bool:
    """An everyday word: jieba's dictionary knows it as something other than a name
    ("门诊" n, "夏天" t), or it is on the list of words jieba tags as names although they
    are mostly not ("高峰" peak, "平安" safe)."""
    if word in vocabulary().zh_common_words:
        return True
    tag = _posseg().word_tag_tab.get(word)
    return tag is not None and not tag.startswith("nr")


def _not_a_name(text: str, start: int, end: int) -> bool:
    """Words that need context to be names: dictionary words ("门诊", "夏天") and
    eponyms ("唐氏" in "唐氏综合征")."""
    words = vocabulary()
    word = text[start:end]
    if word in words.zh_not_names:
        return True
    if _is_dictionary_word(word):
        return True  # "门诊" n, "夏天" t
    return text[end:].startswith(words.zh_eponym_tails)


def chinese_name_spans(text: str) -> Iterator[tuple[int, int, float]]:
    """(start, end, score) of every Chinese person name the rules find."""
    if not has_chinese(text):
        return
    words = _join_surname_and_given(text, _words(text))
    found: list[tuple[int, int, float]] = []
    for index, (start, end, flag) in enumerate(words):
        bounds = _name_at(text, start, end)
        if bounds is None:
            continue
        name_start, name_end = bounds
        before = text[max(0, name_start - 12) : name_start]
        cued = _cue_pattern().search(before) is not None
        # the jieba word itself is only a surname (not "李女士" shortened to "李")
        bare_surname = _surname_pattern().fullmatch(text[start:end]) is not None
        if bare_surname and cued and index + 1 < len(words):
            # "患者：司马" + "伟": jieba cut the surname alone; the short next word is the
            # given name, unless it is a title ("司马" + "先生").
            next_start, next_end, _ = words[index + 1]
            is_given = re.fullmatch(f"[{_HAN}]{{1,2}}", text[next_start:next_end])
            if is_given and not _title_pattern().match(text[next_start:]):
                name_end = next_end
        if text[name_start:name_end] in vocabulary().zh_not_names:
            continue
        if re.match(r"号?[:：]", text[name_end : name_end + 2]):
            continue  # a field label ("车架号：", "银行卡号："), not a person
        if cued:
            found.append((name_start, name_end, SCORES["cue"]))
        elif _title_pattern().match(text[name_end : name_end + 6]):
            found.append((name_start, name_end, SCORES["title"]))
        elif flag == "nr" and not bare_surname and not _not_a_name(text, name_start, name_end):
            found.append((name_start, name_end, SCORES["tagged"]))
    yield from found
    yield from chinese_mentions(text, {text[a:b] for a, b, _ in found if b - a >= 2})


def chinese_mentions(text: str, names: Collection[str]) -> Iterator[tuple[int, int, float]]:
    """Every mention of a known Chinese name, one scan for all of them; a name that is
    also a word ("高峰", peak) counts only before a reporting verb or a title."""
    if not names:
        return
    pattern = re.compile(alternation(list(names)))
    for match in pattern.finditer(text):
        if text[match.end() :].startswith(vocabulary().zh_eponym_tails):
            continue
        if _is_dictionary_word(match.group(0)) and not _REPORTS.match(text, match.end()):
            continue  # "高峰" the patient reports; "达高峰" is a peak
        yield match.start(), match.end(), PROPAGATED_SCORE
