"""REST API face of reelmine (FastAPI): a thin adapter over :mod:`reelmine.service`.

Build the app with :func:`reelmine.api.app.create_app`; run it with ``reelmine serve``.
"""
