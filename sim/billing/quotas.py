"""The provider's quotas: the AVChatRoom count of an app and the trial edition's accounts.

From the provider's documentation (DESIGN.md, "Billing and quotas"):

- AVChatRooms: a net count with a limit per edition (:class:`AVChatRoomQuota`): create 3 and
  disband 3 and you can still create 50; an empty room that was not disbanded still counts.
- Trial edition: up to 100 accounts; a deleted account cannot be recovered
  (:class:`TrialAccounts`).

The limits of each edition come from a price list (:class:`sim.billing.price_lists.Edition`).
Every refused operation raises :class:`~sim.errors.QuotaError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sim.errors import QuotaError

__all__ = ["AVChatRoomQuota", "Account", "TrialAccounts"]


def _check_limit(limit: int | None) -> int | None:
    """`limit` itself if it is an integer >= 0 or None; a ValueError otherwise."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 0):
        raise ValueError(f"limit must be an integer >= 0 or None (unlimited), got {limit!r}")
    return limit


class AVChatRoomQuota:
    """The AVChatRoom (audio-video chat room) quota of one app: a net count with a limit.

    The provider's wording: "AVChatRooms: up to 50 (trial 10, flagship unlimited in one price
    list); a net count: create 3 and disband 3 and you can still create 50; an empty room that
    was not disbanded still counts."

    Every refused operation raises :class:`~sim.errors.QuotaError`. Creations refused because
    the quota is full are also counted in :attr:`refused`, so simulated usage can report them;
    mistakes such as disbanding a room that does not exist raise but are not counted.

    Parameters
    ----------
    limit : int or None
        Most rooms that may exist at once; ``None`` = unlimited.

    Raises
    ------
    ValueError
        If `limit` is not an integer >= 0 or None.

    Examples
    --------
    >>> quota = AVChatRoomQuota(limit=50)
    >>> rooms = [quota.create() for _ in range(3)]
    >>> for room in rooms:
    ...     quota.disband(room)
    >>> quota.count, quota.remaining
    (0, 50)
    >>> room = quota.create("lobby")          # nobody joins: an empty room still counts
    >>> quota.count, quota.remaining
    (1, 49)
    """

    def __init__(self, limit: int | None = 50):
        self.limit = _check_limit(limit)
        self.refused = 0
        """Creations refused because the quota was full."""
        self._rooms: dict[str, set[str]] = {}
        self._next_number = 1

    @property
    def count(self) -> int:
        """Rooms that exist now: created and not disbanded, empty or not."""
        return len(self._rooms)

    @property
    def remaining(self) -> int | None:
        """Rooms that can still be created; ``None`` when unlimited."""
        return None if self.limit is None else self.limit - self.count

    def __contains__(self, room_id: object) -> bool:
        return room_id in self._rooms

    def create(self, room_id: str | None = None) -> str:
        """Create a room and return its ID.

        Parameters
        ----------
        room_id : str, optional
            The room's ID; ``None`` numbers it (``"avchatroom-1"``, ``"avchatroom-2"``, ...).

        Returns
        -------
        str
            The ID of the new room.

        Raises
        ------
        QuotaError
            If the limit is reached (counted in :attr:`refused`) or `room_id` already exists.
        """
        if room_id is not None and room_id in self._rooms:
            raise QuotaError(f"AVChatRoom {room_id!r} already exists")
        if self.limit is not None and self.count >= self.limit:
            self.refused += 1
            raise QuotaError(
                f"AVChatRoom limit reached: {self.count} of {self.limit} rooms exist "
                "(empty rooms count until disbanded); disband a room before creating another")
        if room_id is None:
            while f"avchatroom-{self._next_number}" in self._rooms:
                self._next_number += 1
            room_id = f"avchatroom-{self._next_number}"
            self._next_number += 1
        self._rooms[room_id] = set()
        return room_id

    def disband(self, room_id: str) -> None:
        """Disband a room, freeing its place in the quota.

        Parameters
        ----------
        room_id : str
            The room.

        Raises
        ------
        QuotaError
            If no room `room_id` exists (never created, or already disbanded).
        """
        if room_id not in self._rooms:
            raise QuotaError(f"cannot disband AVChatRoom {room_id!r}: no such room "
                             "(never created or already disbanded)")
        del self._rooms[room_id]

    def join(self, room_id: str, member_id: str) -> None:
        """Add `member_id` to a room (members do not affect the quota).

        Parameters
        ----------
        room_id, member_id : str
            The room and the member.

        Raises
        ------
        QuotaError
            If no room `room_id` exists.
        """
        self._room(room_id).add(member_id)

    def leave(self, room_id: str, member_id: str) -> None:
        """Remove `member_id` from a room; the room stays, and counts, even when empty.

        Parameters
        ----------
        room_id, member_id : str
            The room and the member (not being a member is not an error).

        Raises
        ------
        QuotaError
            If no room `room_id` exists.
        """
        self._room(room_id).discard(member_id)

    def members(self, room_id: str) -> frozenset[str]:
        """The members of a room now.

        Parameters
        ----------
        room_id : str
            The room.

        Returns
        -------
        frozenset of str

        Raises
        ------
        QuotaError
            If no room `room_id` exists.
        """
        return frozenset(self._room(room_id))

    def _room(self, room_id: str) -> set[str]:
        try:
            return self._rooms[room_id]
        except KeyError:
            raise QuotaError(f"no AVChatRoom {room_id!r}") from None


@dataclass(eq=False)
class Account:
    """One account of an app, with the (minimal) data the provider stores for it.

    Attributes
    ----------
    account_id : str
        The UserID.
    generation : int
        1 for the first account created with this ID, 2 for the account created with it after
        the first was deleted, and so on: a re-created ID is a different account.
    data : dict
        Stand-in for the account's profile, relationship chain, groups and sessions; emptied
        when the account is deleted.
    deleted : bool
        Set when the account is deleted; a deleted account never comes back.
    """

    account_id: str
    generation: int
    data: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False


class TrialAccounts:
    """The accounts of a trial-edition app: "up to 100 accounts; a deleted account cannot be
    recovered."

    Creating an account beyond the limit raises :class:`~sim.errors.QuotaError` and is counted
    in :attr:`refused`. Deleting an account erases its data for good: there is no undelete, and
    creating the same ID again makes a new, empty account (its :attr:`Account.generation` goes
    up), as the provider's account-deletion API describes ("the user's data will be
    irrecoverable"; the trial edition allows importing a deleted UserID again).

    **Do deleted accounts free a slot?** Yes, by default: the limit counts accounts that exist
    now, a net count like the AVChatRoom quota. The provider's documentation only caps accounts
    and says deletion removes the account with all its data; it does not say a deleted account
    keeps occupying the quota, and re-importing a deleted UserID on the trial edition (which
    the provider allows) would be impossible at the cap if it did. Pass
    ``deleted_accounts_free_slots=False`` for the conservative reading, where every account
    ever created counts towards the limit.

    Parameters
    ----------
    limit : int or None
        Most accounts (default 100, the trial edition); ``None`` = unlimited.
    deleted_accounts_free_slots : bool
        Whether deleting an account gives its place in the quota back.

    Raises
    ------
    ValueError
        If `limit` is not an integer >= 0 or None.

    Examples
    --------
    >>> accounts = TrialAccounts(limit=100)
    >>> alice = accounts.create("alice")
    >>> alice.data["nickname"] = "Alice"
    >>> accounts.delete("alice")
    >>> again = accounts.create("alice")
    >>> again.data, again.generation
    ({}, 2)
    """

    def __init__(self, limit: int | None = 100, *, deleted_accounts_free_slots: bool = True):
        self.limit = _check_limit(limit)
        self.deleted_accounts_free_slots = deleted_accounts_free_slots
        self.refused = 0
        """Creations refused because the quota was full."""
        self.deleted = 0
        """Accounts deleted so far."""
        self._accounts: dict[str, Account] = {}
        self._generations: dict[str, int] = {}

    @property
    def count(self) -> int:
        """Accounts that exist now (not deleted)."""
        return len(self._accounts)

    @property
    def used(self) -> int:
        """Places of the quota taken: :attr:`count`, plus deleted accounts if they keep theirs."""
        return self.count + (0 if self.deleted_accounts_free_slots else self.deleted)

    @property
    def remaining(self) -> int | None:
        """Accounts that can still be created; ``None`` when unlimited."""
        return None if self.limit is None else self.limit - self.used

    def __contains__(self, account_id: object) -> bool:
        return account_id in self._accounts

    def create(self, account_id: str) -> Account:
        """Create an account; a previously deleted ID gives a new account with no data.

        Parameters
        ----------
        account_id : str
            The UserID.

        Returns
        -------
        Account
            The new account (its :attr:`Account.generation` counts the IDs' re-creations).

        Raises
        ------
        QuotaError
            If the limit is reached (counted in :attr:`refused`) or the account exists.
        """
        if account_id in self._accounts:
            raise QuotaError(f"account {account_id!r} already exists")
        if self.limit is not None and self.used >= self.limit:
            self.refused += 1
            freed = ("delete an account to free a place" if self.deleted_accounts_free_slots
                     else "deleted accounts still count")
            raise QuotaError(f"trial edition account limit reached: {self.used} of "
                             f"{self.limit} accounts used; cannot create {account_id!r} "
                             f"({freed})")
        generation = self._generations.get(account_id, 0) + 1
        self._generations[account_id] = generation
        account = Account(account_id=account_id, generation=generation)
        self._accounts[account_id] = account
        return account

    def delete(self, account_id: str) -> None:
        """Delete an account and erase its data; it cannot be recovered.

        Parameters
        ----------
        account_id : str
            The UserID.

        Raises
        ------
        QuotaError
            If no account `account_id` exists.
        """
        account = self._accounts.pop(account_id, None)
        if account is None:
            raise QuotaError(f"cannot delete account {account_id!r}: no such account")
        account.data.clear()
        account.deleted = True
        self.deleted += 1

    def get(self, account_id: str) -> Account:
        """The existing account `account_id`.

        Parameters
        ----------
        account_id : str
            The UserID.

        Returns
        -------
        Account

        Raises
        ------
        QuotaError
            If it does not exist (never created, or deleted: deleted accounts are gone).
        """
        try:
            return self._accounts[account_id]
        except KeyError:
            raise QuotaError(f"no account {account_id!r}") from None
