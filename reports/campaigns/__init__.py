"""Campaign revenue attribution (issue 13 part 4): campaign activity from dotdigital and
Ometria, ERP orders credited to the campaigns whose clicks preceded them, and the ESP's
own claimed revenue beside ours. Finance's room, next to `reports` (reconciliation)."""
