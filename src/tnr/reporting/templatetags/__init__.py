"""Template tags of the reporter zone (``{% load zone_i18n %}``)."""
