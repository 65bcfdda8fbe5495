"""The cron family (being built)."""
