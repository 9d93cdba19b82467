import pytest
from django.contrib.auth import get_user_model

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


def test_home_is_the_dashboard_with_profile_counts_for_a_marketer(marketer_client):
    response = marketer_client.get("/")
    assert response.status_code == 200
    assert response.templates[0].name == "monitoring/dashboard.html"
    assert b'id="dashboard-audiences"' in response.content
    assert b"Profiles" in response.content


def test_home_without_a_role_is_a_welcome_page_not_the_dashboard(client):
    client.force_login(get_user_model().objects.create_user("newcomer", password="a-long-enough-password"))
    response = client.get("/")
    assert response.status_code == 200
    assert response.templates[0].name == "core/home.html"
    assert b"no role yet" in response.content
