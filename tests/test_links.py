import pytest

from bot.limits import MAX_URL_CHARS
from bot.links import canonicalize, find_urls, host_of, remove_urls


def test_finds_links_in_order_without_trailing_punctuation():
    text = "Read https://example.com/a, then (https://en.wikipedia.org/wiki/Foo_(bar)). Also www.bbc.co.uk/news!"
    assert find_urls(text) == [
        "https://example.com/a",
        "https://en.wikipedia.org/wiki/Foo_(bar)",
        "http://www.bbc.co.uk/news",
    ]


def test_same_page_under_tracking_parameters_is_found_once():
    text = "https://ex.com/story?id=3&utm_source=tw and https://EX.com/story?id=3&fbclid=abc#comments"
    assert find_urls(text) == ["https://ex.com/story?id=3&utm_source=tw"]


def test_no_links_in_plain_text_or_other_schemes():
    assert find_urls("nothing here, ftp://x.org/file or mailto:a@b.c") == []
    assert find_urls("") == []


@pytest.mark.parametrize(
    "url, canonical",
    [
        ("HTTPS://Example.COM:443/a?utm_source=x&id=3#frag", "https://example.com/a?id=3"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        ("https://ex.com/p?gclid=1&b=2&a=1&utm_medium=m", "https://ex.com/p?b=2&a=1"),
        ("http://[::1]:80/", "http://[::1]/"),
        ("http://bücher.de/x", "http://xn--bcher-kva.de/x"),
    ],
)
def test_canonicalize(url, canonical):
    assert canonicalize(url) == canonical


@pytest.mark.parametrize("bad", ["ftp://x.org/", "not a url", "http://", "http://x.org:99999/"])
def test_canonicalize_rejects_non_http(bad):
    with pytest.raises(ValueError):
        canonicalize(bad)


def test_host_of_drops_www():
    assert host_of("https://www.Example.com/x") == "example.com"


def test_closing_brackets_are_trimmed_while_unbalanced_however_many():
    assert find_urls("(see https://en.wikipedia.org/wiki/Foo_(bar)).") == ["https://en.wikipedia.org/wiki/Foo_(bar)"]
    assert find_urls("http://a.example/" + ")" * 40_000) == ["http://a.example/"]
    assert find_urls("[[http://a.example/x]]]") == ["http://a.example/x"]


def test_a_link_longer_than_any_real_one_is_not_a_link():
    assert find_urls("https://a.example/" + "x" * MAX_URL_CHARS) == []
    assert find_urls("https://a.example/" + "x" * (MAX_URL_CHARS - 50)) != []


def test_remove_urls_leaves_the_rest_of_the_text():
    text = "read https://a.example/1, then www.b.example/2. (and https://c.example/3)"
    assert remove_urls(text, lambda url: "b.example" in url) == "read https://a.example/1, then . (and https://c.example/3)"
    assert remove_urls(text, lambda url: False) == text


def test_only_the_first_hundred_links_of_a_message_are_read():
    from bot.links import MAX_LINKS_READ

    text = " ".join(f"https://例え{n}.jp/{n}" for n in range(2_500))
    found = find_urls(text)
    assert len(found) == MAX_LINKS_READ and found[0] == "https://例え0.jp/0"
