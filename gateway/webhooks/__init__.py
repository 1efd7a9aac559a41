"""Outbound webhooks: callback templates, the outbox dispatcher, signing."""
