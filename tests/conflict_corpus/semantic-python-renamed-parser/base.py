"""Parses the claim log written by git-pcc-watch."""
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Claim:
    session: str
    path: str
    mode: str


def parse_line(line: str) -> Claim:
    session, path, mode = line.rstrip("\n").split("\t")
    return Claim(session, path, mode)


def parse_file(log: Path) -> list[Claim]:
    with log.open(encoding="utf-8") as handle:
        return [parse_line(line) for line in handle]


def claims_by_session(claims: list[Claim]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for claim in claims:
        grouped.setdefault(claim.session, []).append(claim.path)
    return grouped
