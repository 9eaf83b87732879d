"""``python -m explorer.classroom list|purge [--days N] [--url URL]``: the classes kept, and deleting expired ones."""

from __future__ import annotations

import argparse
import sys

from .store import ClassStore


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explorer.classroom",
                                     description="List the classes kept by Class mode, or delete expired ones.")
    parser.add_argument("command", choices=["list", "purge"])
    parser.add_argument("--url", default=None, help="database URL (default: CNN_EXPLORER_DB, secrets.toml or SQLite)")
    parser.add_argument("--days", type=float, default=None,
                        help="purge classes idle for more than this many days (default: CNN_EXPLORER_CLASS_DAYS or 7)")
    args = parser.parse_args(argv)
    # open without the automatic purge, so `list` shows what is there
    store = ClassStore(args.url, embed=False, purge_at_open=False)
    print(f"database: {store.url.split('@')[-1] if not store.is_sqlite else store.url}")
    if args.command == "list":
        days = store_days(args.days)
        expired = set(store.expired(days))
        for info in store.classes():
            mark = "  EXPIRED" if info.code in expired else ""
            print(f"{info.code}  photos={info.photos:<5} students={info.students:<4} last_activity="
                  f"{info.last_activity:%Y-%m-%d %H:%M} UTC  labels={','.join(info.labels)}{mark}")
        if not expired and not store.classes():
            print("no classes")
    else:
        removed = store.purge(store_days(args.days))
        print(f"deleted {len(removed)} class(es) idle for more than {store_days(args.days):g} days"
              + (": " + " ".join(removed) if removed else ""))
    store.close()
    return 0


def store_days(days):
    if days is not None:
        return days
    import os

    from .store import DEFAULT_RETENTION_DAYS

    try:
        return float(os.environ.get("CNN_EXPLORER_CLASS_DAYS", DEFAULT_RETENTION_DAYS))
    except ValueError:
        return float(DEFAULT_RETENTION_DAYS)


if __name__ == "__main__":
    sys.exit(main())
