import re, pytest
from pydantic import SecretStr
from cryptography.fernet import Fernet
from services.booking.app import create_app
from tests.apps import running
from tests.conftest import ADMIN_TOKEN

@pytest.mark.asyncio
async def test_smoke(settings, clean_queues):
    s = settings.model_copy(update={"session_key": SecretStr(Fernet.generate_key().decode()), "scheduler_url": "http://127.0.0.1:9", "notifier_url": "http://127.0.0.1:9"})
    async with running(create_app(s)) as client:
        r = await client.get("/admin/", allow_redirects=False)
        print(r.status, r.headers.get("Location"))
        r = await client.get("/admin/sign-in")
        html = await r.text()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        r = await client.post("/admin/sign-in", data={"csrf_token": csrf, "name": "", "password": ADMIN_TOKEN, "next": "/admin/"}, allow_redirects=False)
        print(r.status, r.headers.get("Location"), r.headers.get("Set-Cookie"))
        for path in ["/admin/", "/admin/bookings", "/admin/bookings.csv", "/admin/bookings?from=x"]:
            r = await client.get(path)
            t = await r.text()
            print(path, r.status, t[:300] if r.status != 200 else len(t))
