import pytest
from tests.factories import make_incident, make_org, make_user
pytestmark = pytest.mark.django_db
def test_x(client):
    org = make_org("A"); client.force_login(make_user("a", org)); make_incident(org)
    html = client.get("/incidents/?q=abc&year_from=x").content.decode()
    open("/tmp/listpage.html","w").write(html)
