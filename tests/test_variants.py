"""Each detection path, end to end through the API: what a leaked copy goes through on its way
online still opens the leak, and says which variant and region matched."""

from typing import Any

from PIL import Image, ImageDraw, ImageOps

from testing.images import encode, photo
from tests.api_client import Api


def _only_leak(api: Api) -> dict[str, Any]:
    [leak] = api.leaks()
    return api.leak(leak["id"])


def test_cropped_copy_opens_a_leak(api: Api) -> None:
    api.asset(encode(photo(21)))
    original = photo(21)
    w, h = original.size
    api.sighting(encode(original.crop((0, int(h * 0.3), int(w * 0.7), h))))
    [sighting] = _only_leak(api)["sightings"]
    assert sighting["variant"].startswith("crop70")


def test_flipped_copy_opens_a_leak(api: Api) -> None:
    api.asset(encode(photo(22)))
    api.sighting(encode(ImageOps.mirror(photo(22))))
    [sighting] = _only_leak(api)["sightings"]
    assert sighting["variant"] == "flip"


def test_rotated_copy_opens_a_leak(api: Api) -> None:
    api.asset(encode(photo(23)))
    api.sighting(encode(photo(23).rotate(90, expand=True)))
    [sighting] = _only_leak(api)["sightings"]
    assert sighting["variant"] in {"rot90", "rot270"}


def test_framed_copy_opens_a_leak_through_the_found_region(api: Api) -> None:
    api.asset(encode(photo(24)))
    canvas = Image.new("RGB", (900, 780), (246, 246, 246))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, 900, 56), fill=(29, 161, 242))
    draw.ellipse((20, 70, 70, 120), fill=(180, 90, 90))
    draw.text((90, 80), "@insider_cars: look what we found", fill=(20, 20, 20), font_size=22)
    canvas.paste(photo(24), (130, 140))
    api.sighting(encode(canvas), page_url="https://social.example.com/p/1")
    [sighting] = _only_leak(api)["sightings"]
    assert sighting["region"].startswith("region:")
    left, top, right, bottom = (float(v) for v in sighting["region"][7:].split(","))
    expected = (130 / 900, 140 / 780, 770 / 900, 620 / 780)
    assert all(abs(a - b) < 0.03 for a, b in zip((left, top, right, bottom), expected, strict=True))


def test_captioned_copy_opens_a_leak(api: Api) -> None:
    api.asset(encode(photo(25)))
    original = photo(25)
    canvas = Image.new("RGB", (original.width, original.height + 110), "white")
    ImageDraw.Draw(canvas).text((16, 30), "BREAKING: first look", fill="black", font_size=40)
    canvas.paste(original, (0, 110))
    api.sighting(encode(canvas))
    assert len(api.leaks()) == 1


def test_low_information_image_opens_nothing_and_says_why(api: Api) -> None:
    flat = encode(Image.new("RGB", (640, 480), (240, 240, 240)))
    api.asset(encode(photo(26)))
    receipt = api.sighting(flat)
    assert receipt["low_information"] == "near-uniform"
    assert api.leaks() == []


def test_flat_asset_is_refused_at_registration(api: Api) -> None:
    response = api.register_asset(encode(Image.new("RGB", (640, 480), (10, 10, 10))))
    assert response.status_code == 422
    assert response.json()["reason"] == "low_information"
