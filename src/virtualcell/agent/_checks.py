"""Checkers of the agent benchmark: how an answer text is read and judged per family.

Every checker first reads *what the answer names* (GO terms, genes, perturbations,
clusters, edges, a label, a count), in the order named, then judges the named items with
one stated rule. For questions that ask for one item (``k = 1``):

* the **first item named must be correct**, and
* an answer naming **more than k items is judged on precision too**: at least half of the
  named items must be correct (so a padded list with one true item fails).

How items are recognised:

GO processes
    GO ids in the answer (``GO:0030218``) when it gives any; otherwise term names found by
    longest match over the store's BP term names (so ``regulation of erythrocyte
    differentiation`` is read as that term, not as ``erythrocyte differentiation``).
Genes
    Tokens that are gene symbols of the store (case-sensitive), the question's own gene
    left out.
Hallmark sets
    The set's name in words (``heme metabolism``, ``HALLMARK_HEME_METABOLISM``) or a
    curated keyword of the set (:data:`HALLMARK_KEYWORDS`: ``heme``, ``erythro``,
    ``porphyrin`` ... for HEME_METABOLISM). Keywords of different sets are disjoint except
    the stems that sibling sets share (:data:`HALLMARK_SIBLINGS`: UV_RESPONSE_UP/DN,
    ESTROGEN_RESPONSE_EARLY/LATE ...), which the genes cannot tell apart from a GO-based
    answer; naming the sibling's full name fails.
Claim labels
    ``supported`` / ``contradicted`` / ``unknown``; a label negated within the three words
    before it in its clause (``not supported``) is not a label.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "HALLMARK_KEYWORDS",
    "HALLMARK_SIBLINGS",
    "go_named",
    "hallmark_named",
    "judge",
    "mentions",
    "named_in_order",
]

#: Share of named items that must be correct when an answer names more than asked for.
MIN_PRECISION = 0.5


def judge(named: Sequence[str], accepted: Iterable[str], k: int = 1) -> bool:
    """The list rule: the first named item is accepted and, when more than ``k`` items
    are named, at least :data:`MIN_PRECISION` of them are."""
    ok = set(accepted)
    if not named or named[0] not in ok:
        return False
    if len(named) > k:
        return sum(n in ok for n in named) / len(named) >= MIN_PRECISION
    return True


def mentions(text: str, term: str) -> int:
    """Position of ``term`` in ``text`` as a whole word (case-insensitive), or -1."""
    m = re.search(rf"(?<![\w-]){re.escape(term)}(?![\w-])", text, re.IGNORECASE)
    return m.start() if m else -1


def named_in_order(text: str, options: Iterable[str], *, case: bool = False) -> list[str]:
    """The ``options`` the text names as whole words, in order of first mention (each
    once; at one position the longest option wins)."""
    found: list[tuple[int, int, str]] = []
    flags = 0 if case else re.IGNORECASE
    for o in set(options):
        for m in re.finditer(rf"(?<![\w-]){re.escape(o)}(?![\w-])", text, flags):
            found.append((m.start(), -len(o), o))
    found.sort()
    out: list[str] = []
    end = -1
    for start, neg_len, o in found:
        if start < end:  # inside a longer option already read
            continue
        end = start - neg_len
        if o not in out:
            out.append(o)
    return out


# -- GO terms ------------------------------------------------------------------------------
_GO_ID = re.compile(r"GO:\d{7}")
_CLAUSE = re.compile(r"[.;:()\[\]!?\n]")


def norm_words(text: str) -> tuple[str, ...]:
    """Lower-case alphanumeric words of ``text`` (how term names are compared)."""
    return tuple(re.findall(r"[a-z0-9]+", text.lower()))


def go_named(
    text: str,
    accepted_names: Iterable[str],
    vocabulary: Mapping[tuple[str, ...], str] | None = None,
) -> list[str]:
    """GO processes the answer names, in order: GO ids when it gives any, else term names
    read by longest match over ``vocabulary`` (normalised words -> key) plus the accepted
    names. A name is returned as its vocabulary key (a GO id where known)."""
    ids = list(dict.fromkeys(_GO_ID.findall(text)))
    if ids:
        return ids
    vocab = dict(vocabulary or {})
    for n in accepted_names:
        vocab.setdefault(norm_words(n), n)
    longest = max((len(k) for k in vocab), default=0)
    out: list[str] = []
    for clause in _CLAUSE.split(text):
        words = norm_words(clause)
        i = 0
        while i < len(words):
            hit = None
            for n in range(min(longest, len(words) - i), 0, -1):
                key = vocab.get(words[i : i + n])
                if key is not None:
                    hit = (n, key)
                    break
            if hit:
                if hit[1] not in out:
                    out.append(hit[1])
                i += hit[0]
            else:
                i += 1
    return out


# -- Hallmark sets ---------------------------------------------------------------------------
#: Curated keywords per MSigDB Hallmark set: words a correct name of the set's process
#: contains (GO-style names included, e.g. "heme biosynthetic process" for HEME_METABOLISM),
#: matched at word starts, case-insensitive. Disjoint between sets except the stems of
#: :data:`HALLMARK_SIBLINGS` (a test checks this).
HALLMARK_KEYWORDS: dict[str, tuple[str, ...]] = {
    "HALLMARK_TNFA_SIGNALING_VIA_NFKB": ("tnf", "tumor necrosis factor", "nf-kappab", "nfkb",
                                          "nf-kb", "i-kappab"),
    "HALLMARK_HYPOXIA": ("hypoxi", "decreased oxygen", "oxygen levels"),
    "HALLMARK_CHOLESTEROL_HOMEOSTASIS": ("cholesterol", "sterol", "isoprenoid", "steroid"),
    "HALLMARK_MITOTIC_SPINDLE": ("spindle", "microtubule"),
    "HALLMARK_WNT_BETA_CATENIN_SIGNALING": ("wnt", "beta-catenin", "catenin"),
    "HALLMARK_TGF_BETA_SIGNALING": ("tgf", "transforming growth factor", "smad"),
    "HALLMARK_IL6_JAK_STAT3_SIGNALING": ("interleukin-6", "il-6", "il6", "stat3", "jak"),
    "HALLMARK_DNA_REPAIR": ("dna repair", "excision repair", "nucleotide-excision",
                            "base-excision", "mismatch repair", "double-strand break"),
    "HALLMARK_G2M_CHECKPOINT": ("g2/m", "g2m", "cell cycle", "chromosome segregation",
                                "cell division", "sister chromatid", "nuclear division"),
    "HALLMARK_APOPTOSIS": ("apopto", "programmed cell death", "cell death"),
    "HALLMARK_NOTCH_SIGNALING": ("notch",),
    "HALLMARK_ADIPOGENESIS": ("adipo", "fat cell", "lipid storage", "brown fat"),
    "HALLMARK_ESTROGEN_RESPONSE_EARLY": ("estrogen", "oestrogen", "estradiol"),
    "HALLMARK_ESTROGEN_RESPONSE_LATE": ("estrogen", "oestrogen", "estradiol"),
    "HALLMARK_ANDROGEN_RESPONSE": ("androgen", "testosterone"),
    "HALLMARK_MYOGENESIS": ("myogen", "muscle", "myofibril", "sarcomere", "myoblast"),
    "HALLMARK_PROTEIN_SECRETION": ("protein secretion", "golgi", "exocytosis",
                                   "vesicle", "protein transport", "endosom"),
    "HALLMARK_INTERFERON_ALPHA_RESPONSE": ("interferon", "type i interferon",
                                           "interferon-alpha", "interferon-beta", "ifn-alpha",
                                           "virus", "viral"),
    "HALLMARK_INTERFERON_GAMMA_RESPONSE": ("interferon", "interferon-gamma", "ifn-gamma",
                                           "type ii interferon"),
    "HALLMARK_APICAL_JUNCTION": ("apical", "junction", "adherens", "cell-cell adhesion"),
    "HALLMARK_APICAL_SURFACE": ("apical", "apical plasma membrane", "apical surface"),
    "HALLMARK_HEDGEHOG_SIGNALING": ("hedgehog", "smoothened"),
    "HALLMARK_COMPLEMENT": ("complement",),
    "HALLMARK_UNFOLDED_PROTEIN_RESPONSE": ("unfolded protein", "endoplasmic reticulum stress",
                                           "er stress", "protein folding"),
    "HALLMARK_PI3K_AKT_MTOR_SIGNALING": ("pi3k", "phosphatidylinositol 3-kinase", "akt",
                                         "protein kinase b", "mtor", "tor signaling"),
    "HALLMARK_MTORC1_SIGNALING": ("mtor", "tor signaling", "mtorc1"),
    "HALLMARK_E2F_TARGETS": ("e2f", "dna replication", "g1/s"),
    "HALLMARK_MYC_TARGETS_V1": ("myc", "ribosom", "rrna", "ribonucleoprotein"),
    "HALLMARK_MYC_TARGETS_V2": ("myc", "ribosom", "rrna", "ribonucleoprotein"),
    "HALLMARK_EPITHELIAL_MESENCHYMAL_TRANSITION": ("epithelial to mesenchymal",
                                                   "epithelial-mesenchymal", "mesenchym",
                                                   "extracellular matrix", "collagen"),
    "HALLMARK_INFLAMMATORY_RESPONSE": ("inflammat",),
    "HALLMARK_XENOBIOTIC_METABOLISM": ("xenobiotic", "drug metabolic"),
    "HALLMARK_FATTY_ACID_METABOLISM": ("fatty acid", "fatty-acyl", "acyl-coa", "beta-oxidation"),
    "HALLMARK_OXIDATIVE_PHOSPHORYLATION": ("oxidative phosphorylation", "electron transport",
                                           "respiratory chain", "aerobic respiration",
                                           "atp synthesis", "cellular respiration",
                                           "tricarboxylic acid"),
    "HALLMARK_GLYCOLYSIS": ("glycoly", "gluconeogen", "hexose", "pyruvate"),
    "HALLMARK_REACTIVE_OXYGEN_SPECIES_PATHWAY": ("reactive oxygen", "oxidative stress",
                                                 "hydrogen peroxide", "superoxide", "oxidant"),
    "HALLMARK_P53_PATHWAY": ("p53", "tp53", "dna damage"),
    "HALLMARK_UV_RESPONSE_UP": ("uv", "ultraviolet", "radiation"),
    "HALLMARK_UV_RESPONSE_DN": ("uv", "ultraviolet", "radiation"),
    "HALLMARK_ANGIOGENESIS": ("angiogen", "vasculature", "vascular", "blood vessel",
                              "vasculogenesis"),
    "HALLMARK_HEME_METABOLISM": ("heme", "erythro", "hemoglobin", "porphyrin", "iron"),
    "HALLMARK_COAGULATION": ("coagulation", "hemostasis", "clotting", "fibrinolysis",
                             "platelet"),
    "HALLMARK_IL2_STAT5_SIGNALING": ("interleukin-2", "il-2", "il2", "stat5"),
    "HALLMARK_BILE_ACID_METABOLISM": ("bile",),
    "HALLMARK_PEROXISOME": ("peroxisom",),
    "HALLMARK_ALLOGRAFT_REJECTION": ("allograft", "graft", "antigen processing", "mhc",
                                     "t cell receptor", "t cell activation"),
    "HALLMARK_SPERMATOGENESIS": ("spermat", "sperm", "male gamete", "meio"),
    "HALLMARK_KRAS_SIGNALING_UP": ("kras", "ras"),
    "HALLMARK_KRAS_SIGNALING_DN": ("kras", "ras"),
    "HALLMARK_PANCREAS_BETA_CELLS": ("pancrea", "beta cell", "insulin", "islet",
                                     "glucose homeostasis"),
}  # fmt: skip

#: Groups of sets whose shared keyword stems the genes cannot tell apart from a process
#: name; within a group only the stems listed are shared.
HALLMARK_SIBLINGS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("HALLMARK_UV_RESPONSE_UP", "HALLMARK_UV_RESPONSE_DN"): ("uv", "ultraviolet", "radiation"),
    ("HALLMARK_ESTROGEN_RESPONSE_EARLY", "HALLMARK_ESTROGEN_RESPONSE_LATE"): (
        "estrogen", "oestrogen", "estradiol"),
    ("HALLMARK_KRAS_SIGNALING_UP", "HALLMARK_KRAS_SIGNALING_DN"): ("kras", "ras"),
    ("HALLMARK_MYC_TARGETS_V1", "HALLMARK_MYC_TARGETS_V2"): (
        "myc", "ribosom", "rrna", "ribonucleoprotein"),
    ("HALLMARK_INTERFERON_ALPHA_RESPONSE", "HALLMARK_INTERFERON_GAMMA_RESPONSE"): (
        "interferon",),
    ("HALLMARK_APICAL_JUNCTION", "HALLMARK_APICAL_SURFACE"): ("apical",),
    ("HALLMARK_PI3K_AKT_MTOR_SIGNALING", "HALLMARK_MTORC1_SIGNALING"): ("mtor", "tor signaling"),
}  # fmt: skip

_NAME_ALIASES = {"dn": "(?:dn|down)", "nfkb": "(?:nfkb|nf-kb|nf-kappab)", "g2m": "(?:g2m|g2/m)"}


def hallmark_words(name: str) -> list[str]:
    """The words of a set's name without the ``HALLMARK_`` prefix (lower case)."""
    return [w for w in name.lower().split("_") if w != "hallmark"]


def _name_pattern(name: str) -> str:
    words = [_NAME_ALIASES.get(w, re.escape(w)) for w in hallmark_words(name)]
    return r"(?:hallmark[\s_]+)?" + r"[\s_/-]+".join(words)


def _keyword_pattern(kw: str) -> str:
    # a keyword matches at a word start ("erythro" matches "erythrocyte"); short keywords
    # (<= 4 letters) only as whole words ("ras" is not "rash", "mhc" not "mhcii")
    tail = r"(?![\w])" if len(kw) <= 4 else ""
    return r"(?<![\w])" + re.escape(kw).replace(r"\ ", r"[\s_-]+") + tail


def hallmark_named(text: str, sets: Iterable[str] | None = None) -> list[str]:
    """The Hallmark sets an answer names, in order: by full name first (a named set is
    read as itself), then by curated keyword (the earliest keyword wins; a sibling stem
    names the whole sibling group, returned as ``"A|B"``)."""
    names = list(sets) if sets is not None else list(HALLMARK_KEYWORDS)
    found: list[tuple[int, int, str]] = []
    spans: list[tuple[int, int]] = []
    for s in names:
        for m in re.finditer(_name_pattern(s), text, re.IGNORECASE):
            found.append((m.start(), -(m.end() - m.start()), s))
            spans.append((m.start(), m.end()))
    shared = {kw: "|".join(g) for g, kws in HALLMARK_SIBLINGS.items() for kw in kws}
    for s in names:
        for kw in HALLMARK_KEYWORDS.get(s, ()):
            for m in re.finditer(_keyword_pattern(kw), text, re.IGNORECASE):
                if any(a <= m.start() < b for a, b in spans):
                    continue  # part of a full set name already read
                found.append((m.start(), -(m.end() - m.start()), shared.get(kw, s)))
    found.sort()
    out: list[str] = []
    end = -1
    for start, neg_len, s in found:
        if start < end:
            continue
        end = start - neg_len
        if s not in out:
            out.append(s)
    return out


def hallmark_ok(text: str, target: str) -> bool:
    """The first Hallmark set named is ``target`` (or its sibling group, by a shared
    stem), and at least half of the sets named are."""
    named = hallmark_named(text)
    return judge(named, {target, *(s for s in named if target in s.split("|"))}, k=1)


# -- claim labels -------------------------------------------------------------------------
LABELS = ("supported", "contradicted", "unknown")
_NEGATION = re.compile(r"\b(?:not|no|never|cannot)\b|n't\b", re.IGNORECASE)


def claim_label(text: str) -> str | None:
    """The first label the answer gives, skipping negated mentions (``not supported``)."""
    hits = []
    for lab in LABELS:
        for m in re.finditer(rf"(?<![\w-]){lab}(?![\w-])", text, re.IGNORECASE):
            clause = re.split(r"[.;:!?,]", text[: m.start()])[-1]
            before = " ".join(re.findall(r"[\w']+", clause)[-3:])
            if not _NEGATION.search(before):
                hits.append((m.start(), lab))
    return min(hits)[1] if hits else None


# -- counts -------------------------------------------------------------------------------
NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10,
}  # fmt: skip
_NUM = r"(\d+|" + "|".join(NUMBER_WORDS) + r")"


def first_count(text: str) -> tuple[int | None, bool]:
    """``(first whole number in the answer, whether an alternative follows it)``; an
    alternative is ``3 or 4``, ``3-4``, ``3 to 4``, ``3/4``."""
    m = re.search(rf"(?<![\w.]){_NUM}(?![\w.]\d)\b", text, re.IGNORECASE)
    if not m:
        return None, False
    v = m.group(1).lower()
    value = int(v) if v.isdigit() else NUMBER_WORDS[v]
    alt = re.match(rf"\s*(?:or|to|-|–|/|and)\s*{_NUM}\b", text[m.end() :], re.IGNORECASE)
    return value, alt is not None


# -- genes and edges ---------------------------------------------------------------------
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]*[A-Za-z0-9]|[A-Za-z0-9]")
_NOT_GENES = {"GO", "TF", "TFS", "KB", "DNA", "RNA", "ID", "NA", "TRRUST", "OMNIPATH", "I", "A"}


def genes_named(text: str, genes: Any = None, *, exclude: Iterable[str] = ()) -> list[str]:
    """Gene symbols the answer names, in order (each once): tokens in ``genes`` (a set of
    the store's symbols) or, without it, upper-case symbol-like tokens."""
    skip = set(exclude)
    out: list[str] = []
    for tok in _TOKEN.findall(text):
        if tok in skip or tok in out:
            continue
        if genes is not None:
            if tok in genes:
                out.append(tok)
        elif (
            tok.upper() == tok and re.search(r"[A-Z]", tok) and tok not in _NOT_GENES
        ):  # no store: symbol-like tokens
            out.append(tok)
    return out


_EDGE = re.compile(r"([A-Za-z0-9_.-]+)\s*(?:->|→)\s*([A-Za-z0-9_.-]+)")


def edges_named(text: str) -> set[str]:
    """``A->B`` edges the answer names (trailing punctuation of a name dropped)."""
    return {f"{a.strip('.-')}->{b.strip('.-')}" for a, b in _EDGE.findall(text)}
