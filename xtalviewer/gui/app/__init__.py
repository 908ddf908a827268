"""The review window as a whole: start-up, the window, its actions, menus, dialogs and preferences."""
