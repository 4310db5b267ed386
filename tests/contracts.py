"""Where the external API contracts are: ../shared/contracts beside the checkout."""
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = next((path for path in (_ROOT.parent / "shared" / "contracts", Path("/work/shared/contracts"))
                  if path.is_dir()), _ROOT.parent / "shared" / "contracts")
