"""A budget: a hard stop on spending, checked before each request is sent.

A request may be sent only if what was already spent, plus the worst case of every request in flight,
plus its own worst case (its input at the price of input, its output cap at the price of output) stays
within the cap. Budgets nest: a queue's (``rate_limits…max_usd``) or a stage model's inside the run's
(``budget.max_usd``); a request needs room in each. When the reply comes, its reservation is released
and its real cost (from the usage the API reported) is added instead, so the budget stops sending as
late as the truth allows, and never past the cap on the worst case. A live queue whose next request
would fit but for the requests in flight waits for their replies; a batch queue, whose reservations are
held until its batch ends, does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import trio


@dataclass
class Budget:
    """One cap in USD (``None``: no cap, only counting), inside an optional parent."""

    max_usd: float | None
    name: str
    """What the cap is set on (``budget.max_usd``, ``queue 'openai'``), for messages."""
    parent: Budget | None = None
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    reservations: int = 0
    """Requests in flight holding a reservation (``reserved_usd`` is their sum, give or take rounding)."""
    refused: int = 0
    """Requests refused for lack of room (recorded as ``not_sent``, reason ``budget``)."""
    _children: list[Budget] = field(default_factory=list, repr=False)
    _settled: trio.Event = field(default_factory=trio.Event, repr=False)

    def __post_init__(self) -> None:
        if self.parent is not None:
            self.parent._children.append(self)

    def child(self, max_usd: float | None, name: str) -> Budget:
        """A budget inside this one."""
        return Budget(max_usd, name, parent=self)

    def room_for(self, worst_usd: float) -> Budget | None:
        """The budget (this one or a parent) that has no room for ``worst_usd`` more, if any."""
        budget: Budget | None = self
        while budget is not None:
            if (
                budget.max_usd is not None
                and budget.spent_usd + budget.reserved_usd + worst_usd > budget.max_usd
            ):
                return budget
            budget = budget.parent
        return None

    def reserve(self, worst_usd: float) -> Budget | None:
        """Reserve ``worst_usd`` here and in every parent; return the budget that refused (nothing is
        reserved then), or ``None`` when the request may go."""
        refusing = self.room_for(worst_usd)
        if refusing is not None:
            self.refused += 1
            return refusing
        for budget in self._chain():
            budget.reserved_usd += worst_usd
            budget.reservations += 1
        return None

    async def reserve_when_settled(self, worst_usd: float) -> Budget | None:
        """:meth:`reserve`, but a request refused only for the worst case of what is in flight waits for
        those replies first (they usually cost less than their worst case): it is refused only when
        what was really spent leaves no room."""
        while (refusing := self.room_for(worst_usd)) is not None and refusing.reservations > 0:
            await refusing._settled.wait()
        return self.reserve(worst_usd)

    def settle(self, reserved_usd: float, cost_usd: float, *, reserved: bool = True) -> None:
        """A reply came (or none did): release its reservation (``reserved``: one was made) and add
        what it really cost."""
        for budget in self._chain():
            if reserved:
                budget.reservations = max(0, budget.reservations - 1)
            budget.reserved_usd = max(0.0, budget.reserved_usd - reserved_usd) if budget.reservations else 0.0
            budget.spent_usd += cost_usd
            budget._settled.set()
            budget._settled = trio.Event()

    def add_spent(self, cost_usd: float) -> None:
        """Money spent before this run (a resume counts the records it keeps)."""
        for budget in self._chain():
            budget.spent_usd += cost_usd

    @property
    def exhausted(self) -> bool:
        """Whether this budget or one inside it refused a request."""
        return self.refused > 0 or any(child.exhausted for child in self._children)

    def _chain(self) -> list[Budget]:
        chain: list[Budget] = []
        budget: Budget | None = self
        while budget is not None:
            chain.append(budget)
            budget = budget.parent
        return chain


def budget_refusal(refusing: Budget, worst_usd: float) -> str:
    """Why a request was not sent: the record's ``not_sent`` message."""
    return (
        f"budget: {refusing.name} ${refusing.max_usd:g} has no room for this request's worst case "
        f"(${worst_usd:.4f}; spent ${refusing.spent_usd:.4f}, in flight ${refusing.reserved_usd:.4f})"
    )
