"""Station validation and derivation (make_station) and the amenity vocabulary."""
import pytest

from stationmap import vocab
from stationmap.errors import InvalidInput
from stationmap.model import make_station, stable_id

BASE = {"name": "测试驿站", "lat": 23.5501, "lon": 116.3728}


def test_district_and_township_are_derived_not_typed():
    s = make_station({**BASE, "district": "普宁市"})  # a wrong typed district is ignored here; import checks it
    assert s.district == "445202" and s.township.startswith("445202")
    assert s.id == stable_id("测试驿站", "445202")


@pytest.mark.parametrize("changes,message", [
    ({"name": ""}, "no name"),
    ({"lat": None}, "no coordinates"),
    ({"lat": "abc"}, "not a number"),
    ({"lat": 30.0, "lon": 120.0}, "outside Jieyang"),
    ({"lat": 116.3728, "lon": 23.5501}, "swapped"),
    ({"amenities": "厕所、按摩椅"}, "unknown amenity '按摩椅'"),
    ({"hours": "看情况"}, "unreadable opening hours"),
    ({"kind": "超级"}, "unknown kind"),
    ({"status": "maybe"}, "unknown status"),
    ({"features": "扫码"}, "not a smart station"),
    ({"year_opened": "去年"}, "not a year"),
    ({"phone": "call me"}, "not a phone number"),
    ({"id": "bad id!"}, "id 'bad id!'"),
])
def test_bad_fields_are_refused_with_a_reason(changes, message):
    with pytest.raises(InvalidInput, match=message):
        make_station({**BASE, **changes})


@pytest.mark.parametrize("word,key", [("厕所", "toilet"), ("卫生间", "toilet"), ("微波炉", "microwave"),
                                      ("餐食加热", "microwave"), ("热饭", "microwave"), ("充电", "phone_charging"),
                                      ("手机充电", "phone_charging"), ("药箱", "first_aid"), ("应急药品", "first_aid"),
                                      ("饮用水", "drinking_water"), ("饮水", "drinking_water"), ("Wi-Fi", "wifi"),
                                      ("AED", "aed"), ("microwave", "microwave")])
def test_amenity_synonyms(word, key):
    assert vocab.amenity_key(word) == key


def test_amenity_cells_split_on_every_separator():
    assert vocab.parse_amenities("厕所、微波炉，充电,饮水;药箱；wifi") == (
        "drinking_water", "first_aid", "microwave", "phone_charging", "toilet", "wifi")


def test_every_term_has_chinese_and_english_names():
    for t in vocab.AMENITIES + vocab.SMART_FEATURES:
        assert t.zh and t.en and t.key


def test_smart_station_features():
    s = make_station({**BASE, "kind": "智能化工会驿站", "features": "扫码进入、一键报警、24小时自助"})
    assert s.kind == "smart" and s.features == ("emergency_alarm", "qr_sign_in", "self_service_24h")


@pytest.mark.parametrize("word, key", [("充电桩", "ebike_charging"), ("电动车充电", "ebike_charging"),
                                      ("电瓶车充电", "ebike_charging"), ("电单车充电", "ebike_charging"),
                                      ("充电柜", "ebike_charging"), ("换电", "battery_swap"), ("换电柜", "battery_swap"),
                                      ("换电池", "battery_swap"), ("电动车停放", "ebike_parking"),
                                      ("电动车停车", "ebike_parking"), ("无障碍", "step_free"), ("无台阶", "step_free"),
                                      ("无障碍通道", "step_free"), ("E-bike charging", "ebike_charging"),
                                      ("充电", "phone_charging"), ("手机充电", "phone_charging")])
def test_riders_words(word, key):
    assert vocab.amenity_key(word) == key


def test_a_charging_post_is_for_e_bikes_not_phones():
    assert "充电桩" not in vocab.AMENITY_BY_KEY["phone_charging"].synonyms
    assert vocab.parse_amenities("充电桩、手机充电、换电柜、无障碍通道") == (
        "battery_swap", "ebike_charging", "phone_charging", "step_free")


def test_a_bare_parking_word_is_not_guessed():
    with pytest.raises(InvalidInput, match="unknown amenity '停车'"):
        vocab.amenity_key("停车")


def test_every_term_has_a_short_icon():
    for t in vocab.AMENITIES + vocab.SMART_FEATURES:
        assert t.icon and len(t.icon) <= 3 and not t.icon.isascii(), t.key


def test_no_word_belongs_to_two_terms():
    owners = {}
    for t in vocab.AMENITIES:
        for w in {vocab._norm(x) for x in (t.key, t.zh, t.en, *t.synonyms)}:
            owners.setdefault(w, set()).add(t.key)
    assert {w: keys for w, keys in owners.items() if len(keys) > 1} == {}
    with pytest.raises(ValueError, match="充电桩"):
        vocab._index((vocab.Term("a", "甲", "A", ("充电桩",)), vocab.Term("b", "乙", "B", ("充电桩",))))
