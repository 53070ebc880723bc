"""The Kiwoom REST client; httpx and h11 only in client.py and channel.py."""
