"""The daily digest: chats subscribe, and once a day, at a local time of their choosing,
get what was shared there and what is new in the feeds they follow.

  localtime      times of day and IANA zones; when a daily time falls, across DST
  subscriptions  who subscribed, when, where to send; the due set the scheduler reads
  history        articles shared in each chat (kept `history_days`)
  feeds          RSS/Atom feeds a chat follows, fetched with ETag/Last-Modified
  compose        a digest's content: one entry per story, ranked, grouped
  service        the parts wired together (SummaryBot owns one)
  scheduler      sends each (chat, local date) digest exactly once across processes
  commands       /subscribe, /unsubscribe, /digest, /feeds
"""
