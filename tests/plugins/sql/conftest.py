"""A real SQLite database for the SQL family: the local store with a customers table."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestrator_blocks.app.store import forget_stores, open_store
from orchestrator_blocks.kernel.config import load_settings

CUSTOMERS = [
    (1, "Ada", "pro", "EU"),
    (2, "Bob", "team", "EU"),
    (3, "Cy", "team", "US"),
    (4, "Dee", "free", "EU"),
]


@pytest.fixture
def customers(isolated_home: Path) -> Iterator[Path]:
    """``state.db`` (the ``local`` database) migrated, with four customers in it."""
    open_store(load_settings())
    db = isolated_home / "state.db"
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, plan TEXT, region TEXT)"
    )
    conn.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", CUSTOMERS)
    conn.commit()
    conn.close()
    yield db
    forget_stores()


@pytest.fixture
def original_customers() -> list[tuple]:
    """The rows :func:`customers` starts with."""
    return list(CUSTOMERS)


@pytest.fixture
def customer_rows(customers: Path) -> Callable[[], list[tuple]]:
    """Read the customers table straight from the file, past the engine under test."""

    def read() -> list[tuple]:
        conn = sqlite3.connect(customers)
        try:
            return conn.execute("SELECT * FROM customers ORDER BY id").fetchall()
        finally:
            conn.close()

    return read
