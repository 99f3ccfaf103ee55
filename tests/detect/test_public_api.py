from goodstanding import detect


def test_exported_members():
    assert sorted(detect.__all__) == sorted(
        ["CATEGORIES", "Canonical", "Detectors", "Screen", "canonicalize", "compiled",
         "load_detectors"]
    )


def test_categories_are_openais_thirteen_in_reference_order():
    assert detect.CATEGORIES == (
        "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
        "illicit/violent", "self-harm", "self-harm/intent", "self-harm/instructions", "sexual",
        "sexual/minors", "violence", "violence/graphic",
    )
