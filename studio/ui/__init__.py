"""The Gradio web app: one module per tab, assembled by app.build_app."""
