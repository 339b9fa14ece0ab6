"""Which (province × step × commune) units to evaluate, and the template values of each."""

from __future__ import annotations

from dataclasses import dataclass

from cutover.checklist import Checklist, Step, province_values
from cutover.errors import UsageError
from cutover.geo import Commune, Province


@dataclass(frozen=True)
class Target:
    """One unit to evaluate: a province and step, and a commune for commune-level steps."""

    province: Province
    step: Step
    commune: Commune | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.province.code, self.step.id, self.commune.code if self.commune else "")

    def values(self, province_values: dict[str, str | None]) -> dict[str, str | None]:
        """The template values of this unit: its province's (`base_values`) plus its
        commune's."""
        commune = self.commune
        if commune is None:
            return province_values
        return {
            **province_values,
            "commune.code": commune.code,
            "commune.name": commune.name,
            "commune.type": commune.type,
        }


def base_values(province: Province, endpoints: dict[str, str]) -> dict[str, str | None]:
    """The template values every unit of a province shares: its own and its endpoints'."""
    values: dict[str, str | None] = province_values(province)
    values.update({f"endpoint.{k}": v for k, v in endpoints.items()})
    return values


def select_steps(checklist: Checklist, step_ids: list[str] | None, tag: str | None) -> list[Step]:
    steps = [checklist.step(s) for s in step_ids] if step_ids else list(checklist.steps)
    if tag:
        steps = [s for s in steps if tag in s.tags]
        if not steps:
            tags = sorted({t for s in checklist.steps for t in s.tags})
            raise UsageError(f"no step has tag {tag!r}; tags: {', '.join(tags)}")
    return steps


def build(provinces: list[Province], steps: list[Step]) -> list[Target]:
    """Every unit to evaluate; commune-level steps expand to one target per commune."""
    targets = []
    for province in provinces:
        for step in steps:
            if not step.applies(province):
                continue
            if step.level == "commune":
                targets += [Target(province, step, c) for c in province.communes]
            else:
                targets.append(Target(province, step))
    return targets
