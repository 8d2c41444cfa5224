"""Adapters: chat platforms (Telegram, Slack, console) and the command line.

Each adapter turns platform events into `bot.models.Incoming`, calls
`bot.core.SummaryBot.handle`, and renders the returned `Reply` objects in the platform's
format. Escaping and splitting happen here, at this boundary, and nowhere in `bot/`.
"""
