"""Related articles for digests: up to three links with titles under every summary.

  page_links  links the page itself declares (rel prev/next, "Related" sections, JSON-LD)
  vectors     an article's title+lead embedding, cached in the store by content hash
  memory      articles already summarized per scope, searched by similarity (store + matrix)
  feeds       the newest items of the chat's feeds, ranked by similarity
  rank        merging the sources into one list
  finder      the one call the pipeline makes: all of the above for one digest
"""
