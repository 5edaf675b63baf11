from ocrstream.cli import app

app()
