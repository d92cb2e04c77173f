"""``python -m local`` (what ``make run`` runs): the whole system on http://127.0.0.1:$PORT."""

from local.stack import main

if __name__ == "__main__":
    main()
