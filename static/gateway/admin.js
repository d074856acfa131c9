// The changelist's filter bar (admin.css): one drop-down open at a time, closed by Escape or a click
// elsewhere, and a list that would pass the window's right edge opens leftwards instead.
'use strict';
{
    const filters = [...document.querySelectorAll('#changelist-filter details')];
    const closeAll = (except) => filters.forEach((other) => { if (other !== except) other.open = false; });
    filters.forEach((filter) => {
        filter.addEventListener('toggle', () => {
            if (!filter.open) return;
            closeAll(filter);
            const list = filter.querySelector('ul');
            list.classList.remove('gw-leftward');
            if (list.getBoundingClientRect().right > document.documentElement.clientWidth - 8) {
                list.classList.add('gw-leftward');
            }
        });
    });
    document.addEventListener('click', (event) => {
        if (!event.target.closest('#changelist-filter details')) closeAll(null);
    });
    document.addEventListener('keydown', (event) => { if (event.key === 'Escape') closeAll(null); });
}
