import pytest

pytestmark = pytest.mark.django_db


def test_every_page_requires_login(client):
    # given an anonymous visitor
    # when they open the home page
    response = client.get("/")
    # then they are sent to the login page
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_health_probe_is_public(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_home_shows_counts_to_a_marketer(marketer_client):
    response = marketer_client.get("/")
    assert response.status_code == 200
    assert b"Profiles" in response.content
