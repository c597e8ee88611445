def test_healthz_in_process(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.data == b'{"status":"ok"}'


def test_healthz_live(live):
    import requests

    response = requests.get(live.url + "/healthz", timeout=5)
    assert response.content == b'{"status":"ok"}'
    assert response.headers["Content-Type"] == "application/json"
