"""Books: import (EPUB, PDF, DOCX, Markdown, HTML, Kindle, TXT), plan, render as a resumable job, check by speech
recognition, export."""
