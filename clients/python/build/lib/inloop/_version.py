__version__ = "1.0.0"
# The API version this client speaks (the server's /api/v1); the package's major version.
API_VERSION = "1"
