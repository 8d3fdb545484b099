"""Books: import (EPUB/TXT), plan, render as a resumable job, check by speech recognition, export."""
