"""The Device Authorization Grant (RFC 8628): a device without a browser shows a short
code, the user approves it on `/device` in a browser, the device polls `/token`."""
