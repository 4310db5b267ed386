"""A month where every order differs (a first install before its first read-back) lists a
capped number of differences on the page, saying how many there are; the per-currency
figures still count them all and the CSV lists them all (issue 14)."""
import csv
import io

import pytest

pytestmark = pytest.mark.django_db


def test_the_page_lists_the_first_differences_and_the_csv_all_of_them(as_role, month, monkeypatch):
    monkeypatch.setattr("reports.views.DIFFERENCES_SHOWN", 1)
    client = as_role("finance")
    html = client.get("/reports/", month.query()).content.decode()
    assert html.count('class="difference ') == 2  # one per destination, of two each
    assert html.count("The first 1 of 2 differences are listed here; the differences CSV lists them all.") == 2
    assert "explained to the cent" in html and "does not explain the gap" not in html  # the totals count all
    response = client.get("/reports/", month.query(format="csv", table="differences"))
    listed = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(listed) == 4
