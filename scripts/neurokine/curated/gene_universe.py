"""The reference gene universe that every curated gene symbol must belong to.

A symbol is accepted if an installed reference names it (HCD CIP genes, HCD cytokine/receptor
table, and CytoSig matrix genes when that optional reference is installed) or if it is on the
explicit, cited allow-list ``resources/signatures/gene_allowlist.tsv``. The required part (HCD +
allow-list) alone must accept the whole resource, so validation never depends on an optional
package; a test checks this.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from neurokine.curated import references
from neurokine.errors import InputError

CITATION = re.compile(r"^(PMID:[0-9]{6,9}|DOI:10\.[0-9]{4,9}/\S+|NCT[0-9]{8}|GEO:GSE[0-9]+"
                      r"|PMC:PMC[0-9]+|HGNC:[0-9]+)$")
SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9-]*(\.[0-9]+)?$")


@dataclasses.dataclass(frozen=True)
class GeneUniverse:
    """A named set of accepted gene symbols with the sources that built it."""

    name: str
    genes: frozenset[str]
    sources: tuple[tuple[str, int], ...]

    def __contains__(self, gene: object) -> bool:
        return gene in self.genes


def load_allowlist(path: str | Path) -> dict[str, str]:
    """Read the allow-list TSV (symbol, reason, citation); return symbol -> citation."""
    path = Path(path)
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, comment="#")
    except FileNotFoundError as exc:
        raise InputError(str(path), "file", "does not exist", "check the path") from exc
    expected = ["symbol", "reason", "citation"]
    if list(table.columns) != expected:
        raise InputError(str(path), "header", f"columns are {list(table.columns)}",
                         f"use exactly {expected}")
    allow: dict[str, str] = {}
    for i, row in enumerate(table.itertuples(index=False), start=2):
        if not isinstance(row.symbol, str) or not SYMBOL.match(row.symbol):
            raise InputError(str(path), f"line {i}.symbol", f"bad symbol {row.symbol!r}",
                             "use an upper-case HGNC symbol")
        if not isinstance(row.reason, str) or not row.reason.strip():
            raise InputError(str(path), f"line {i}.reason", "missing reason",
                             "say why the symbol is absent from every reference")
        if not isinstance(row.citation, str) or not CITATION.match(row.citation):
            raise InputError(str(path), f"line {i}.citation", f"missing or malformed citation "
                             f"{row.citation!r}", "cite PMID:, DOI:, PMC:, GEO: or HGNC:")
        if row.symbol in allow:
            raise InputError(str(path), f"line {i}.symbol", f"duplicate {row.symbol}",
                             "list each symbol once")
        allow[row.symbol] = row.citation
    return allow


def build_universe(allowlist_path: str | Path, include_optional: bool = True) -> GeneUniverse:
    """Union of installed reference genes and the allow-list, named after its sources."""
    parts: list[tuple[str, frozenset[str]]] = []
    versions = references.provenance().set_index("reference")["version"].to_dict()
    for ref in ("hcd_cip", "hcd_info") + (("cytosig",) if include_optional else ()):
        genes = references.reference_genes(ref)
        if genes is not None:
            parts.append((f"{ref}({references.FILES[ref].package} {versions[ref]})", genes))
    allow = frozenset(load_allowlist(allowlist_path))
    parts.append((f"allow-list({Path(allowlist_path).name})", allow))
    genes = frozenset().union(*(g for _, g in parts))
    name = " + ".join(label for label, _ in parts)
    return GeneUniverse(name=name, genes=genes, sources=tuple((lab, len(g)) for lab, g in parts))


def check_genes(universe: GeneUniverse, source: str,
                fields: Iterable[tuple[str, str]]) -> None:
    """Raise InputError for the first (field, gene) whose gene is outside the universe."""
    for field, gene in fields:
        if gene not in universe:
            raise InputError(source, field,
                             f"gene symbol {gene!r} appears in no reference gene universe "
                             f"[{universe.name}]",
                             "correct the symbol (current HGNC name) or add it, with a reason "
                             "and citation, to resources/signatures/gene_allowlist.tsv")
