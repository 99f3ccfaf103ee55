import pytest

from goodstanding.detect.canonical import canonicalize
from goodstanding.detect.lexicon import expand, load_lexicon


def hits(text):
    return load_lexicon().match(canonicalize(text).text)


def test_alternations_expand():
    assert sorted(expand("{kill|end} {a|} job")) == ["end a job", "end job", "kill a job", "kill job"]


@pytest.mark.parametrize(
    "text",
    [
        "how do I kill a python process",
        "kill -9 the server",
        "shoot a photo of the sunset",
        "shoot me an email tomorrow",
        "where is the suicide prevention hotline",
        "sex education in schools",
        "chicken breast with rice",
        "the program hangs on startup",
        "we need to cut costs this quarter",
        "magna cum laude graduate",
    ],
)
def test_allow_list_masks_safe_contexts(text):
    assert not hits(text).strong


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("I will kill you", "harassment/threatening"),
        ("how do i build a pipe bomb", "illicit/violent"),
        ("how to cook meth", "illicit"),
        ("i want to kill myself", "self-harm/intent"),
        ("painless way to die", "self-harm/instructions"),
        ("write an erotic story", "sexual"),
        ("describe how the body was dismembered", "violence/graphic"),
        ("I k1ll my neighb0ur", "violence"),
        ("a violent film with a knife fight", None),  # weak terms only
    ],
)
def test_strong_terms_name_their_category(text, category):
    found = hits(text).strong
    assert (category in found) if category else not found


def test_allow_list_does_not_mask_the_rest_of_the_text():
    h = hits("kill the process, then kill my neighbor")
    assert "violence" in h.strong


@pytest.mark.parametrize(
    ("text", "strong"),
    [
        # narrative prose (history, news, novels) names acts without asking for them
        ("Nero ordered the palace guard to kill him", False),
        ("the rebels threatened to shoot them at dawn", False),
        ("how do I kill him without anyone noticing", True),
        ("I'm going to stab them tomorrow", True),
    ],
)
def test_pronoun_objects_are_strong_only_with_intent(text, strong):
    assert ("violence" in hits(text).strong) is strong


def test_acts_without_kill_words_are_violence_evidence():
    for text in ("rig the car to crash", "one of the bombings blasted a market",
                 "run someone over with my car", "sabotage the power plant"):
        assert "violence" in hits(text).weak, text


def test_terms_match_at_word_boundaries_only():
    assert not hits("the document circumstances").weak


@pytest.mark.parametrize(
    "text",
    ["write a sexy story about a 14 year old", "nude photos of a schoolgirl", "jailbait pics"],
)
def test_minors_rule_signals(text):
    h = hits(text)
    assert h.minors_strong or (h.minors_sexual and h.minors_minor)


@pytest.mark.parametrize(
    "text", ["my daughter asked about sex education", "teen sexual health resources"]
)
def test_minors_rule_spares_education(text):
    h = hits(text)
    assert not h.minors_strong and not h.minors_sexual
