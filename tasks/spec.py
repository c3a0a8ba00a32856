"""What one job is: an input to read and a final output to write."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class JobSpec:
    id: str  # stable across runs: follows the input's name
    input: str  # relative to the inputs root as given
    source: str  # absolute input path
    output: str  # absolute final output path
    key: str  # input content + converter settings: the cache key

    def to_dict(self) -> dict[str, str]:
        return asdict(self)
