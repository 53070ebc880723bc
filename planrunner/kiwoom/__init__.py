"""The Kiwoom REST client. Only client.py imports httpx; codes/wire are pure data."""
