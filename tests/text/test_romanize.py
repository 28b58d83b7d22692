"""The patient's name in the other alphabet (red team 2): Cyrillic or Greek in text, Latin in the header, and
the reverse. Each case tries to get the name out; the clinical sentences must come back unchanged."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from veil.text.clean import clean_text
from veil.text.known import collect_identifiers
from veil.text.romanize import find_other_script, romanised, sound_key


def _known(name: str, charset: str = "ISO_IR 192"):
    ds = Dataset()
    ds.SpecificCharacterSet = charset
    ds.PatientName = name
    return collect_identifiers(ds)


@pytest.mark.parametrize("text", [
    "Пациентка Квиксандор Белинда, 79 лет",  # Russian
    "КВИКСАНДОР Б.",  # capitals
    "пацієнтка Квіксандор",  # Ukrainian і
    "Κουιξάντορ Μπελίντα",  # Greek, accented
    "ΚΟΥΙΞΑΝΤΟΡ",  # Greek capitals, no accents
    "Белинда Квиксандор сообщили",
])
def test_a_latin_headers_name_written_in_cyrillic_or_greek_is_found(text):
    cleaned, n = clean_text(text, _known("QUIXANDOR^BELINDA"))
    assert n >= 1
    for word in ("Квиксандор", "КВИКСАНДОР", "Квіксандор", "Белинд", "Κουιξάντορ", "ΚΟΥΙΞΑΝΤΟΡ", "Μπελίντα"):
        assert word not in cleaned, cleaned


@pytest.mark.parametrize("text", ["Patient Ivanova Svetlana, CT chest", "IVANOVA S.", "pt Ivanova"])
def test_a_cyrillic_headers_name_written_in_latin_is_found(text):
    cleaned, _ = clean_text(text, _known("Иванова^Светлана", "ISO_IR 144"))
    assert "Ivanova" not in cleaned and "IVANOVA" not in cleaned and "Svetlana" not in cleaned, cleaned


@pytest.mark.parametrize("name,text", [
    ("QUIXANDOR^BELINDA", "Пневмония справа, плевральный выпот"),
    ("QUIXANDOR^BELINDA", "Οίδημα πνεύμονα, πλευριτική συλλογή"),
    ("PETROV^IVAN", "Печень без очаговых изменений"),
    ("MARINA^OLGA", "Контроль через 3 месяца"),
    ("Роман^Олег", "72 year old woman, CT chest"),  # "woman" sounds like no Roman
    ("Роман^Олег", "Romanian interpreter present"),  # an everyday word
    # review: words near a name of the other alphabet
    ("Smith^Norma", "Показатели в пределах нормы"), ("Costa^Ana", "Кости таза без изменений"),
    ("Krista^Ann", "Простая киста почки"), ("Dalia^Rose", "Верхняя доля справа"), ("Karen^Lee", "Корень аорты"),
    ("Colleen^Ray", "МРТ колена"), ("Kristi^Jo", "Κύστη νεφρού"), ("Mitra^Jo", "Η μήτρα είναι φυσιολογική"),
    ("Карина^Анна", "Nodule above the carina"),
])
def test_clinical_text_in_either_alphabet_stays(name, text):
    charset = "ISO_IR 144" if any("\u0400" <= c <= "\u04ff" for c in name) else "ISO_IR 192"
    assert clean_text(text, _known(name, charset)) == (text, 0)


def test_the_sound_key_is_the_same_for_common_romanisations():
    assert sound_key("QUIXANDOR") == sound_key("Квиксандор") == sound_key("Kviksandor")
    assert sound_key("BELINDA") == sound_key("Белинда") == sound_key("Μπελίντα")
    assert romanised("Щукин") == "shchukin" and romanised("Ντίνος") == "dinos"


@given(st.text(alphabet=st.characters(min_codepoint=0x0370, max_codepoint=0x04FF) | st.sampled_from(" .,-"),
               max_size=60))
def test_any_cyrillic_or_greek_text_gives_spans_inside_it(text):
    keys = frozenset({sound_key("QUIXANDOR"), sound_key("BELINDA")})
    for s in find_other_script(text, keys, True):
        assert 0 <= s.start < s.end <= len(text)
