"""Map pages are kept rendered per registry version: a kept page carries each response's own nonce, and a
write to the registry is on the next page at once."""
from __future__ import annotations

import dataclasses

from stationmap.store import open_store
from web import create_app


def test_a_kept_map_page_gets_a_new_nonce_and_an_edit_shows_at_once(registry_dir):
    client = create_app({"data_dir": str(registry_dir)}).test_client()
    pages = [client.get("/map?lang=en") for _ in range(2)]
    nonces = [p.headers["Content-Security-Policy"].split("'nonce-")[1].split("'")[0] for p in pages]
    assert nonces[0] != nonces[1]
    texts = [p.get_data(as_text=True) for p in pages]
    for text, nonce in zip(texts, nonces):
        assert text.count(f'nonce="{nonce}"') == text.count("nonce=") >= 1
    assert texts[0].replace(nonces[0], "") == texts[1].replace(nonces[1], "")

    store = open_store(registry_dir)
    first = store.all()[0]
    renamed = dataclasses.replace(first, name="新名字驿站 renamed for the cache test")
    assert store.change_rows(lambda current: {first.id: renamed})
    after = client.get("/map?lang=en").get_data(as_text=True)
    assert "renamed for the cache test" in after and "renamed for the cache test" not in texts[0]
